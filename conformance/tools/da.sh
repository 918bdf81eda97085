#!/bin/bash
# Dictionary-attack protection: tpm2_dictionarylockout (DictionaryAttackParameters,
# DictionaryAttackLockReset), the lockout counter, lockout mode and lockout-auth recovery.
. "$(dirname "$0")/lib.sh"
startup || exit 1

LPW=lockout-pw

case_cleanup() {
    # Back to: no lockout password, counter 0, generous parameters.
    if [ "$(yaml "$(tpm2_getcap properties-variable)" lockoutAuthSet)" = 1 ]; then
        tpm2_changeauth -c l -p "$LPW"
    fi
    tpm2_dictionarylockout -s -n 32 -t 600 -l 600
    tpm2_dictionarylockout -c
    tpm2_flushcontext -t
}

# A sealed DA-protected object with password "pw" -> s.ctx (parent primary.ctx).
sealed() {
    primary
    printf 'da test' >d.txt
    tpm tpm2_create -C primary.ctx -i d.txt -p pw -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c s.ctx
}

counter() { echo $(($(prop TPM2_PT_LOCKOUT_COUNTER))); }

c_parameters() {
    tpm tpm2_dictionarylockout -s -n 5 -t 10 -l 20
    eq "$(($(prop TPM2_PT_MAX_AUTH_FAIL)))" 5 "TPM2_PT_MAX_AUTH_FAIL"
    eq "$(($(prop TPM2_PT_LOCKOUT_INTERVAL)))" 10 "TPM2_PT_LOCKOUT_INTERVAL"
    eq "$(($(prop TPM2_PT_LOCKOUT_RECOVERY)))" 20 "TPM2_PT_LOCKOUT_RECOVERY"
}

c_counter_and_reset() {
    tpm tpm2_dictionarylockout -s -n 10 -t 600 -l 600
    sealed
    eq "$(counter)" 0 "lockout counter"
    expect_rc 0x98e tpm2_unseal -c s.ctx -p wrong
    eq "$(counter)" 1 "lockout counter after one failure"
    expect_rc 0x98e tpm2_unseal -c s.ctx -p wrong2
    eq "$(counter)" 2 "lockout counter after two failures"
    # The right password still works below the threshold.
    tpm tpm2_unseal -c s.ctx -p pw -o out.txt
    same_file out.txt d.txt "unsealed data"
    tpm tpm2_dictionarylockout -c
    eq "$(counter)" 0 "lockout counter after DictionaryAttackLockReset"
}

c_lockout_mode() {
    tpm tpm2_dictionarylockout -s -n 2 -t 600 -l 600
    sealed
    expect_rc 0x98e tpm2_unseal -c s.ctx -p wrong
    expect_rc 0x98e tpm2_unseal -c s.ctx -p wrong
    eq "$(yaml "$(tpm tpm2_getcap properties-variable)" inLockout)" 1 "inLockout"
    # In lockout even the right password is refused.
    expect_rc 0x921 tpm2_unseal -c s.ctx -p pw
    tpm tpm2_dictionarylockout -c
    eq "$(yaml "$(tpm tpm2_getcap properties-variable)" inLockout)" 0 "inLockout after reset"
    tpm tpm2_unseal -c s.ctx -p pw -o out.txt
    same_file out.txt d.txt "unsealed data"
}

c_lowering_max_below_counter_locks() {
    tpm tpm2_dictionarylockout -s -n 10 -t 600 -l 600
    sealed
    expect_rc 0x98e tpm2_unseal -c s.ctx -p wrong
    expect_rc 0x98e tpm2_unseal -c s.ctx -p wrong
    # DictionaryAttackParameters keeps failedTries (the errata removed its reset)...
    tpm tpm2_dictionarylockout -s -n 2 -t 600 -l 600
    eq "$(counter)" 2 "lockout counter after DictionaryAttackParameters"
    # ...so with maxTries = failedTries the TPM is in lockout.
    eq "$(yaml "$(tpm tpm2_getcap properties-variable)" inLockout)" 1 "inLockout with counter = max"
    expect_rc 0x921 tpm2_unseal -c s.ctx -p pw
}

c_noda_and_hierarchy_not_counted() {
    tpm tpm2_dictionarylockout -s -n 3 -t 600 -l 600
    primary
    printf 'x' >d.txt
    tpm tpm2_create -C primary.ctx -i d.txt -p pw -a "fixedtpm|fixedparent|userwithauth|noda" -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c s.ctx
    expect_rc 0x9a2 tpm2_unseal -c s.ctx -p wrong
    tpm tpm2_changeauth -c o opw
    expect_rc 0x9a2 tpm2_createprimary -C o -P wrong -G ecc256 -c p.ctx
    tpm tpm2_changeauth -c o -p opw
    eq "$(counter)" 0 "lockout counter"
}

c_self_healing_reported() {
    # One failure is forgotten after recoveryTime (1 s): GetCapability shows it without
    # any authorization in between.
    tpm tpm2_dictionarylockout -s -n 1 -t 1 -l 600
    sealed
    expect_rc 0x98e tpm2_unseal -c s.ctx -p wrong
    eq "$(yaml "$(tpm tpm2_getcap properties-variable)" inLockout)" 1 "inLockout"
    sleep 3
    eq "$(counter)" 0 "lockout counter after the recovery time"
    eq "$(yaml "$(tpm tpm2_getcap properties-variable)" inLockout)" 0 "inLockout after the recovery time"
}

c_self_healing_unlocks() {
    tpm tpm2_dictionarylockout -s -n 1 -t 1 -l 600
    sealed
    expect_rc 0x98e tpm2_unseal -c s.ctx -p wrong
    expect_rc 0x921 tpm2_unseal -c s.ctx -p pw
    sleep 3
    tpm tpm2_unseal -c s.ctx -p pw -o out.txt
    same_file out.txt d.txt "unsealed after the recovery time"
    eq "$(counter)" 0 "lockout counter"
}

c_lockout_auth_required() {
    tpm tpm2_changeauth -c l "$LPW"
    tpm tpm2_dictionarylockout -s -n 4 -t 600 -l 600 -p "$LPW"
    eq "$(($(prop TPM2_PT_MAX_AUTH_FAIL)))" 4 "TPM2_PT_MAX_AUTH_FAIL"
    tpm tpm2_dictionarylockout -c -p "$LPW"
    tpm tpm2_changeauth -c l -p "$LPW"
}

c_lockout_auth_failure_until_reset() {
    # lockoutRecovery 0: after a bad lockout password, lockoutAuth is unusable until the
    # next TPM Reset.
    tpm tpm2_changeauth -c l "$LPW"
    tpm tpm2_dictionarylockout -s -n 32 -t 600 -l 0 -p "$LPW"
    expect_rc 0x98e tpm2_dictionarylockout -c -p wrong
    expect_rc 0x921 tpm2_dictionarylockout -c -p "$LPW"
    tpm tpm2_shutdown -c
    tpm_reset
    tpm tpm2_dictionarylockout -c -p "$LPW"
    tpm tpm2_changeauth -c l -p "$LPW"
}

c_lockout_auth_recovery_time() {
    tpm tpm2_changeauth -c l "$LPW"
    tpm tpm2_dictionarylockout -s -n 32 -t 600 -l 1 -p "$LPW"
    expect_rc 0x98e tpm2_dictionarylockout -c -p wrong
    expect_rc 0x921 tpm2_dictionarylockout -c -p "$LPW"
    sleep 3
    tpm tpm2_dictionarylockout -c -p "$LPW"
    tpm tpm2_changeauth -c l -p "$LPW"
}

c_counter_survives_orderly_reset() {
    tpm tpm2_dictionarylockout -s -n 10 -t 600 -l 600
    sealed
    expect_rc 0x98e tpm2_unseal -c s.ctx -p wrong
    eq "$(counter)" 1 "lockout counter"
    tpm tpm2_shutdown -c
    tpm_reset
    eq "$(counter)" 1 "lockout counter after an orderly TPM Reset"
}

c_parameters_survive_reset() {
    tpm tpm2_dictionarylockout -s -n 7 -t 77 -l 777
    tpm tpm2_shutdown -c
    tpm_reset
    eq "$(($(prop TPM2_PT_MAX_AUTH_FAIL)))" 7 "TPM2_PT_MAX_AUTH_FAIL"
    eq "$(($(prop TPM2_PT_LOCKOUT_INTERVAL)))" 77 "TPM2_PT_LOCKOUT_INTERVAL"
    eq "$(($(prop TPM2_PT_LOCKOUT_RECOVERY)))" 777 "TPM2_PT_LOCKOUT_RECOVERY"
}

run_case parameters c_parameters
run_case counter_and_reset c_counter_and_reset
run_case lockout_mode c_lockout_mode
run_case lowering_max_below_counter_locks c_lowering_max_below_counter_locks
run_case noda_and_hierarchy_not_counted c_noda_and_hierarchy_not_counted
run_case self_healing_reported c_self_healing_reported
run_case self_healing_unlocks c_self_healing_unlocks
run_case lockout_auth_required c_lockout_auth_required
run_case lockout_auth_failure_until_reset c_lockout_auth_failure_until_reset
run_case lockout_auth_recovery_time c_lockout_auth_recovery_time
run_case counter_survives_orderly_reset c_counter_survives_orderly_reset
run_case parameters_survive_reset c_parameters_survive_reset
finish
