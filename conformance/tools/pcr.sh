#!/bin/bash
# PCRs: tpm2_pcrread, tpm2_pcrextend, tpm2_pcrevent, tpm2_pcrreset, tpm2_pcrallocate.
# Every value is recomputed with openssl.
. "$(dirname "$0")/lib.sh"
startup || exit 1

BANKS="sha1 sha256 sha384 sha512"

# pcr BANK INDEX: the PCR value as lowercase hex.
pcr() {
    tpm tpm2_pcrread "$1:$2" -o pcr.out >/dev/null
    hexof pcr.out
}

# extended BANK OLD_HEX DIGEST_HEX: H(old || digest).
extended() {
    { unhex "$2"; unhex "$3"; } | openssl dgst -"$1" -r | cut -d' ' -f1
}

zeros() { # zeros BANK: the all-zero value of a bank, as hex
    case $1 in
    sha1) printf '%040d' 0 ;; sha256) printf '%064d' 0 ;;
    sha384) printf '%096d' 0 ;; sha512) printf '%0128d' 0 ;;
    esac
}

c_initial_values() {
    for b in $BANKS; do
        z=$(zeros $b)
        for i in 0 7 15 16 23; do eq "$(pcr $b $i)" "$z" "$b PCR $i"; done
        # PCRs 17..22 (D-RTM) start as all ones.
        ones=$(printf '%s' "$z" | tr 0 f)
        for i in 17 22; do eq "$(pcr $b $i)" "$ones" "$b PCR $i"; done
    done
}

c_read_to_file() {
    tpm tpm2_pcrread sha256:0,1,2 -o three.bin
    size_is three.bin 96
    tpm tpm2_pcrread sha1:0+sha384:1 -o two.bin
    size_is two.bin 68
}

c_read_yaml() {
    out=$(tpm tpm2_pcrread sha256:16)
    match "$out" "16 ?: 0x0{64}" "PCR 16 listing"
    out=$(tpm tpm2_pcrread)
    for b in $BANKS; do match "$out" "^ *$b:" "bank $b in the full listing"; done
    eq "$(printf '%s\n' "$out" | grep -cE '^ +[0-9]+ *: 0x')" 96 "PCR lines in the full listing"
}

c_extend_sha256() {
    d=$(printf 'one' | sha256)
    tpm tpm2_pcrextend 16:sha256=$d
    want=$(extended sha256 "$(zeros sha256)" "$d")
    eq "$(pcr sha256 16)" "$want" "PCR 16 after one extend"
    d2=$(printf 'two' | sha256)
    tpm tpm2_pcrextend 16:sha256=$d2
    eq "$(pcr sha256 16)" "$(extended sha256 "$want" "$d2")" "PCR 16 after two extends"
    # The other banks are untouched.
    eq "$(pcr sha1 16)" "$(zeros sha1)" "sha1 PCR 16"
}

c_extend_every_bank() {
    spec=""
    for b in $BANKS; do
        eval "d_$b=$(printf 'multi' | openssl dgst -$b -r | cut -d' ' -f1)"
        spec="$spec,$b=$(eval echo "\$d_$b")"
    done
    tpm tpm2_pcrextend "23:${spec#,}"
    for b in $BANKS; do
        eq "$(pcr $b 23)" "$(extended $b "$(zeros $b)" "$(eval echo "\$d_$b")")" "$b PCR 23"
    done
}

c_extend_several_pcrs() {
    a=$(printf a | sha256)
    b=$(printf b | sha256)
    tpm tpm2_pcrextend 10:sha256=$a 11:sha256=$b
    eq "$(pcr sha256 10)" "$(extended sha256 "$(zeros sha256)" "$a")" "PCR 10"
    eq "$(pcr sha256 11)" "$(extended sha256 "$(zeros sha256)" "$b")" "PCR 11"
}

c_event_file() {
    printf 'measured event data\n' >event.bin
    out=$(tpm tpm2_pcrevent 9 event.bin)
    for b in $BANKS; do
        d=$(openssl dgst -$b -r event.bin | cut -d' ' -f1)
        eq "$(yaml "$out" $b)" "$d" "$b digest printed by pcrevent"
        eq "$(pcr $b 9)" "$(extended $b "$(zeros $b)" "$d")" "$b PCR 9"
    done
}

c_event_stdin() {
    out=$(printf 'from stdin' | tpm tpm2_pcrevent 8)
    d=$(printf 'from stdin' | sha256)
    eq "$(yaml "$out" sha256)" "$d" "sha256 event digest"
    eq "$(pcr sha256 8)" "$(extended sha256 "$(zeros sha256)" "$d")" "PCR 8"
}

c_event_hash_only() {
    # Without a PCR index the TPM only hashes the data (PCR_Event on TPM_RH_NULL).
    printf 'no pcr' >e.bin
    out=$(tpm tpm2_pcrevent e.bin)
    for b in $BANKS; do
        eq "$(yaml "$out" $b)" "$(openssl dgst -$b -r e.bin | cut -d' ' -f1)" "$b digest"
    done
}

c_event_max_size() {
    # 1024 bytes: the largest PCR_Event buffer.
    head -c 1024 /dev/urandom >e.bin
    out=$(tpm tpm2_pcrevent 12 e.bin)
    d=$(sha256 e.bin)
    eq "$(yaml "$out" sha256)" "$d" "sha256 event digest"
    eq "$(pcr sha256 12)" "$(extended sha256 "$(zeros sha256)" "$d")" "PCR 12"
}

c_event_large_file() {
    # Over 1024 bytes the tool uses an event sequence (HashSequenceStart(NULL),
    # SequenceUpdate, EventSequenceComplete).
    head -c 5000 /dev/urandom >big.bin
    out=$(tpm tpm2_pcrevent 13 big.bin)
    for b in $BANKS; do
        d=$(openssl dgst -$b -r big.bin | cut -d' ' -f1)
        eq "$(yaml "$out" $b)" "$d" "$b digest of 5000 bytes"
        eq "$(pcr $b 13)" "$(extended $b "$(zeros $b)" "$d")" "$b PCR 13"
    done
}

c_reset_16_and_23() {
    for i in 16 23; do
        tpm tpm2_pcrextend "$i:sha256=$(printf x | sha256),sha1=$(printf x | openssl dgst -sha1 -r | cut -d' ' -f1)"
        ne "$(pcr sha256 $i)" "$(zeros sha256)" "PCR $i after extend"
        tpm tpm2_pcrreset $i
        for b in $BANKS; do eq "$(pcr $b $i)" "$(zeros $b)" "$b PCR $i after reset"; done
    done
}

c_reset_locality_refused() {
    # PCR 0 and the D-RTM PCRs cannot be reset from locality 0.
    expect_rc 0x907 tpm2_pcrreset 0
    expect_rc 0x907 tpm2_pcrreset 17
}

c_extend_drtm_locality_refused() {
    expect_rc 0x907 tpm2_pcrextend "17:sha256=$(printf '%064d' 0)"
    eq "$(pcr sha256 17)" "$(printf '%064d' 0 | tr 0 f)" "PCR 17 unchanged"
}

c_extend_bad_index() {
    # PCR 24 does not exist: TPM_RC_VALUE on handle 1... or refused by the tool.
    expect_fail tpm2_pcrextend "24:sha256=$(printf '%064d' 0)"
}

c_allocate_sha256_only() {
    out=$(tpm tpm2_pcrallocate sha1:none+sha256:all+sha384:none+sha512:none)
    match "$out" 'sha256: \[ 0, 1, 2' "allocation printed by the tool"
    # Takes effect at the next TPM Reset.
    out=$(tpm tpm2_getcap pcrs)
    match "$out" 'sha1: \[ 0, 1' "sha1 bank before reset"
    tpm tpm2_shutdown -c
    tpm_reset
    out=$(tpm tpm2_getcap pcrs)
    match "$out" 'sha256: \[ 0, 1, 2' "sha256 bank after reset"
    for b in sha1 sha384 sha512; do match "$out" "$b: \[ \]" "$b bank after reset"; done
    d=$(printf z | sha256)
    tpm tpm2_pcrextend 16:sha256=$d
    eq "$(pcr sha256 16)" "$(extended sha256 "$(zeros sha256)" "$d")" "sha256 PCR 16 in the new allocation"
    # Back to every bank.
    tpm tpm2_pcrallocate sha1:all+sha256:all+sha384:all+sha512:all
    tpm tpm2_shutdown -c
    tpm_reset
    out=$(tpm tpm2_getcap pcrs)
    for b in $BANKS; do match "$out" "$b: \[ 0, 1" "$b bank restored"; done
}

c_allocate_needs_platform_auth() {
    tpm tpm2_changeauth -c p platpw
    expect_rc 0x9a2 tpm2_pcrallocate -P wrong sha256:all
    tpm tpm2_pcrallocate -P platpw sha1:all+sha256:all+sha384:all+sha512:all
    tpm tpm2_changeauth -c p -p platpw
}

c_shutdown_state_refused_after_allocate() {
    # A pending allocation is applied at the next TPM Reset: Shutdown(STATE) is TPM_RC_TYPE.
    tpm tpm2_pcrallocate sha1:all+sha256:all+sha384:all+sha512:all
    expect_rc 0x1ca tpm2_shutdown
    tpm tpm2_shutdown -c
    tpm_reset
}

c_values_survive_resume() {
    d=$(printf keep | sha256)
    tpm tpm2_pcrextend 5:sha256=$d
    want=$(pcr sha256 5)
    tpm tpm2_shutdown
    tpm_reset state
    eq "$(pcr sha256 5)" "$want" "PCR 5 after Shutdown(STATE)/Startup(STATE)"
    tpm tpm2_shutdown -c
    tpm_reset
    eq "$(pcr sha256 5)" "$(zeros sha256)" "PCR 5 after TPM Reset"
}

run_case initial_values c_initial_values
run_case read_to_file c_read_to_file
run_case read_yaml c_read_yaml
run_case extend_sha256 c_extend_sha256
run_case extend_every_bank c_extend_every_bank
run_case extend_several_pcrs c_extend_several_pcrs
run_case event_file c_event_file
run_case event_stdin c_event_stdin
run_case event_hash_only c_event_hash_only
run_case event_max_size c_event_max_size
run_case event_large_file c_event_large_file
run_case reset_16_and_23 c_reset_16_and_23
run_case reset_locality_refused c_reset_locality_refused
run_case extend_drtm_locality_refused c_extend_drtm_locality_refused
run_case extend_bad_index c_extend_bad_index
run_case allocate_sha256_only c_allocate_sha256_only
run_case allocate_needs_platform_auth c_allocate_needs_platform_auth
run_case shutdown_state_refused_after_allocate c_shutdown_state_refused_after_allocate
run_case values_survive_resume c_values_survive_resume
finish
