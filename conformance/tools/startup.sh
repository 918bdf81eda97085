#!/bin/bash
# Startup, shutdown and self-test: tpm2_startup, tpm2_shutdown, tpm2_selftest,
# tpm2_incrementalselftest, tpm2_gettestresult (and TPM2_Init over the control channel).
# Needs a TPM that has been powered on but not started (swtpm --flags not-need-init).
. "$(dirname "$0")/lib.sh"

# The clock_info of tpm2_readclock as "reset_count restart_count safe".
clock_counts() {
    local out
    out=$(tpm tpm2_readclock)
    echo "$(yaml "$out" reset_count) $(yaml "$out" restart_count) $(yaml "$out" safe)"
}

c_refused_before_startup() {
    expect_rc 0x100 tpm2_getrandom 8
    expect_rc 0x100 tpm2_selftest
}

c_startup_clear() {
    tpm tpm2_startup -c
    out=$(tpm tpm2_getrandom 8 --hex)
    match "$out" '^[0-9a-f]{16}$' "getrandom after startup"
}

c_startup_again_is_harmless() {
    # A second Startup answers TPM_RC_INITIALIZE, which tpm2_startup reports as success;
    # the TPM must keep working.
    tpm tpm2_startup -c
    out=$(tpm tpm2_getrandom 4 --hex)
    match "$out" '^[0-9a-f]{8}$' "getrandom"
}

c_selftest_full() {
    tpm tpm2_selftest -f
    out=$(tpm tpm2_gettestresult)
    eq "$(yaml "$out" status)" success "gettestresult status"
}

c_selftest_incremental() {
    tpm tpm2_selftest
    out=$(tpm tpm2_gettestresult)
    eq "$(yaml "$out" status)" success "gettestresult status"
}

c_incrementalselftest_after_full() {
    tpm tpm2_selftest -f
    # Everything was tested: nothing remains for these algorithms.
    out=$(tpm tpm2_incrementalselftest rsa ecc aes sha256 hmac)
    eq "$(yaml "$out" status)" complete "incrementalselftest status"
    if grep -Eq '^[[:space:]]+(rsa|ecc|aes|sha256|hmac)$' <<<"$out"; then
        fail "tested algorithms still listed as remaining: $out"
    fi
}

c_incrementalselftest_empty_list() {
    out=$(tpm tpm2_incrementalselftest)
    match "$out" 'status:' "incrementalselftest output"
}

c_gettestresult_fields() {
    out=$(tpm tpm2_gettestresult)
    eq "$(yaml "$out" status)" success "status"
}

c_shutdown_state_resume() {
    tpm tpm2_pcrextend "8:sha256=$(printf "%064d" 1)"
    before=$(tpm tpm2_pcrread sha256:8)
    read -r reset0 restart0 _ <<<"$(clock_counts)"
    tpm tpm2_shutdown
    tpm_reset state
    read -r reset1 restart1 safe <<<"$(clock_counts)"
    eq "$reset1" "$reset0" "resetCount after resume"
    eq "$restart1" "$((restart0 + 1))" "restartCount after resume"
    eq "$safe" yes "safe after orderly shutdown"
    after=$(tpm tpm2_pcrread sha256:8)
    eq "$after" "$before" "PCR 8 (saved PCR) after resume"
}

c_shutdown_clear_reset() {
    tpm tpm2_pcrextend "16:sha256=$(printf '%064d' 2)"
    read -r reset0 _ _ <<<"$(clock_counts)"
    tpm tpm2_shutdown -c
    tpm_reset
    read -r reset1 restart1 safe <<<"$(clock_counts)"
    eq "$reset1" "$((reset0 + 1))" "resetCount after reset"
    eq "$restart1" 0 "restartCount after reset"
    eq "$safe" yes "safe after orderly shutdown"
    out=$(tpm tpm2_pcrread sha256:16)
    match "$out" "0x0{64}" "PCR 16 after reset"
}

c_resume_after_shutdown_clear_refused() {
    tpm tpm2_shutdown -c
    [ -n "$TPM_CTRL" ] || skip "no control channel (TPM_CTRL unset)"
    swtpm_ioctl --tcp "$TPM_CTRL" -i >/dev/null
    expect_rc 0x1c4 tpm2_startup
    tpm tpm2_startup -c
}

c_unorderly_restart_not_safe() {
    # TPM2_Init without a Shutdown: Startup(STATE) is refused, Startup(CLEAR) works and
    # the clock is no longer "safe".
    [ -n "$TPM_CTRL" ] || skip "no control channel (TPM_CTRL unset)"
    swtpm_ioctl --tcp "$TPM_CTRL" -i >/dev/null
    expect_rc 0x1c4 tpm2_startup
    tpm tpm2_startup -c
    read -r _ _ safe <<<"$(clock_counts)"
    eq "$safe" no "safe after unorderly restart"
}

c_transients_gone_after_reset() {
    primary primary.ctx
    n=$(tool tpm2_getcap handles-transient | grep -c '^- ' || true)
    eq "$n" 1 "transient handles before reset"
    tpm2_shutdown -c
    tpm_reset
    n=$(tool tpm2_getcap handles-transient | grep -c '^- ' || true)
    eq "$n" 0 "transient handles after reset"
    # The saved context belongs to the previous reset cycle.
    expect_fail tpm2_readpublic -c primary.ctx
}

c_selftest_after_restart() {
    tpm_reset
    tpm tpm2_selftest -f
    out=$(tpm tpm2_gettestresult)
    eq "$(yaml "$out" status)" success "gettestresult status"
}

run_case refused_before_startup c_refused_before_startup
run_case startup_clear c_startup_clear
run_case startup_again_is_harmless c_startup_again_is_harmless
run_case selftest_full c_selftest_full
run_case selftest_incremental c_selftest_incremental
run_case incrementalselftest_after_full c_incrementalselftest_after_full
run_case incrementalselftest_empty_list c_incrementalselftest_empty_list
run_case gettestresult_fields c_gettestresult_fields
run_case shutdown_state_resume c_shutdown_state_resume
run_case shutdown_clear_reset c_shutdown_clear_reset
run_case resume_after_shutdown_clear_refused c_resume_after_shutdown_clear_refused
run_case unorderly_restart_not_safe c_unorderly_restart_not_safe
run_case transients_gone_after_reset c_transients_gone_after_reset
run_case selftest_after_restart c_selftest_after_restart
finish
