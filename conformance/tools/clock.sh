#!/bin/bash
# Clock: tpm2_readclock, tpm2_setclock, tpm2_clockrateadjust.
. "$(dirname "$0")/lib.sh"
startup || exit 1

case_cleanup() {
    [ "$(yaml "$(tpm2_getcap properties-variable)" ownerAuthSet)" = 1 ] && tpm2_changeauth -c o -p opw
    tpm2_flushcontext -t
}

# clk FIELD: a field of tpm2_readclock (time, clock, reset_count, restart_count, safe).
clk() { yaml "$(tpm tpm2_readclock)" "$1"; }

c_readclock_fields() {
    out=$(tpm tpm2_readclock)
    for f in time clock reset_count restart_count; do
        match "$(yaml "$out" $f)" '^[0-9]+$' "$f"
    done
    match "$(yaml "$out" safe)" '^(yes|no)$' "safe"
}

c_clock_advances() {
    t0=$(clk time)
    c0=$(clk clock)
    sleep 1
    t1=$(clk time)
    c1=$(clk clock)
    [ $((t1 - t0)) -ge 900 ] && [ $((t1 - t0)) -le 60000 ] || fail "time moved by $((t1 - t0)) ms in 1 s"
    [ $((c1 - c0)) -ge 900 ] || fail "clock moved by $((c1 - c0)) ms in 1 s"
}

c_setclock_forward() {
    c0=$(clk clock)
    target=$((c0 + 10000000))
    tpm tpm2_setclock $target
    c1=$(clk clock)
    [ "$c1" -ge "$target" ] && [ "$c1" -lt $((target + 5000)) ] || fail "clock is $c1 after setting $target"
}

c_setclock_backward_ignored() {
    # Setting the clock backwards is TPM_RC_VALUE (parameter 1).
    c0=$(clk clock)
    expect_rc 0x1c4 tpm2_setclock $((c0 / 2))
    c1=$(clk clock)
    [ "$c1" -ge "$c0" ] || fail "clock went back from $c0 to $c1"
}

c_setclock_too_large() {
    # newTime beyond 0xFFFF000000000000 is TPM_RC_VALUE. (Last case: a TPM that accepts
    # it keeps a clock that the other cases' shell arithmetic could not handle.)
    expect_rc 0x1c4 tpm2_setclock 18446462598732840961
}

c_setclock_platform() {
    c0=$(clk clock)
    tpm tpm2_setclock -c p $((c0 + 50000))
    [ "$(clk clock)" -ge $((c0 + 50000)) ] || fail "clock not set by the platform"
}

c_setclock_needs_auth() {
    tpm tpm2_changeauth -c o opw
    c0=$(clk clock)
    expect_rc 0x9a2 tpm2_setclock $((c0 + 100000))
    tpm tpm2_setclock -p opw $((c0 + 100000))
    tpm tpm2_changeauth -c o -p opw
}

c_clockrateadjust() {
    for r in s ss sss f ff fff; do tpm tpm2_clockrateadjust $r; done
    # Back to the nominal rate: three slower after three faster.
    for r in s s s; do tpm tpm2_clockrateadjust $r; done
}

c_clockrateadjust_platform() {
    tpm tpm2_clockrateadjust -c p f
    tpm tpm2_clockrateadjust -c p s
}

c_clock_survives_reset() {
    c0=$(clk clock)
    r0=$(clk reset_count)
    tpm tpm2_shutdown -c
    tpm_reset
    c1=$(clk clock)
    eq "$(clk reset_count)" $((r0 + 1)) "reset count"
    [ "$c1" -ge "$c0" ] || fail "clock went back from $c0 to $c1 over a TPM Reset"
    [ "$(clk time)" -lt 60000 ] || fail "time not restarted at TPM Reset"
}

c_setclock_survives_reset() {
    c0=$(clk clock)
    target=$((c0 + 20000000))
    tpm tpm2_setclock $target
    tpm tpm2_shutdown -c
    tpm_reset
    [ "$(clk clock)" -ge "$target" ] || fail "clock set to $target lost at TPM Reset"
}

run_case readclock_fields c_readclock_fields
run_case clock_advances c_clock_advances
run_case setclock_forward c_setclock_forward
run_case setclock_backward_refused c_setclock_backward_ignored
run_case setclock_platform c_setclock_platform
run_case setclock_needs_auth c_setclock_needs_auth
run_case clockrateadjust c_clockrateadjust
run_case clockrateadjust_platform c_clockrateadjust_platform
run_case clock_survives_reset c_clock_survives_reset
run_case setclock_survives_reset c_setclock_survives_reset
run_case setclock_too_large c_setclock_too_large
finish
