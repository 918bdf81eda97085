#!/bin/bash
# Capabilities: every tpm2_getcap group, tpm2_testparms.
. "$(dirname "$0")/lib.sh"
startup || exit 1

# The raw value of a fixed property (decimal), e.g. fixed TPM2_PT_PCR_COUNT.
fixed() {
    local v
    v=$(tpm2_getcap properties-fixed | grep -A1 "^$1:" | sed -n 's/.*raw: //p' | sed -n 1p)
    [ -n "$v" ] || fail "no $1 in properties-fixed"
    echo $((v))
}

# The handles listed by a handles-* group, one per line, as 0x%08x.
handles() {
    local h
    for h in $(tool tpm2_getcap "$1" | sed -n 's/^- //p'); do
        printf '0x%08x\n' "$((h))"
    done
}

c_algorithms() {
    out=$(tpm tpm2_getcap algorithms)
    for a in rsa sha1 hmac aes mgf1 keyedhash xor sha256 sha384 sha512 rsassa rsaes rsapss \
        oaep ecdsa ecdh ecc symcipher cfb kdf1_sp800_108; do
        grep -q "^$a:" <<<"$out" || fail "algorithm $a not listed"
    done
    # Attribute bits: rsa is asymmetric+object, sha256 a hash, aes symmetric, rsassa signing.
    attr() { sed -n "/^$1:/,/^[a-z]/p" <<<"$out" | sed -n -E "s/^ +$2: +//p" | sed -n 1p; }
    eq "$(attr rsa asymmetric)" 1 "rsa asymmetric"
    eq "$(attr rsa object)" 1 "rsa object"
    eq "$(attr sha256 hash)" 1 "sha256 hash"
    eq "$(attr aes symmetric)" 1 "aes symmetric"
    eq "$(attr rsassa signing)" 1 "rsassa signing"
    eq "$(attr oaep encrypting)" 1 "oaep encrypting"
    eq "$(($(attr sha256 value)))" 11 "sha256 algorithm id"
}

c_commands() {
    out=$(tpm tpm2_getcap commands)
    for c in Startup Shutdown SelfTest GetTestResult GetRandom StirRandom GetCapability \
        TestParms PCR_Read PCR_Extend CreatePrimary Create Load ReadPublic FlushContext \
        ContextSave ContextLoad StartAuthSession; do
        grep -q "^TPM2_CC_$c:" <<<"$out" || fail "command $c not listed"
    done
    # GetRandom: 0x17B, no handles, not an NV command.
    blk=$(printf '%s\n' "$out" | sed -n '/^TPM2_CC_GetRandom:/,/^TPM2_CC_/p')
    eq "$(yaml "$blk" commandIndex)" 0x17b "GetRandom commandIndex"
    eq "$(yaml "$blk" cHandles)" 0x0 "GetRandom cHandles"
    blk=$(printf '%s\n' "$out" | sed -n '/^TPM2_CC_Create:/,/^TPM2_CC_/p')
    eq "$(yaml "$blk" cHandles)" 0x1 "Create cHandles"
    blk=$(printf '%s\n' "$out" | sed -n '/^TPM2_CC_CreatePrimary:/,/^TPM2_CC_/p')
    eq "$(yaml "$blk" rHandle)" 1 "CreatePrimary rHandle"
    n=$(printf '%s\n' "$out" | grep -c '^TPM2_CC_')
    total=$(fixed TPM2_PT_TOTAL_COMMANDS)
    [ "$n" -le "$total" ] || fail "$n commands listed, TPM2_PT_TOTAL_COMMANDS is $total"
    [ "$n" -ge 18 ] || fail "only $n commands listed"
}

c_pcrs() {
    out=$(tpm tpm2_getcap pcrs)
    all="0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23"
    match "$out" "sha256: \[ $all \]" "sha256 bank"
}

c_properties_fixed() {
    out=$(tpm tpm2_getcap properties-fixed)
    eq "$(printf '%s\n' "$out" | grep -A2 '^TPM2_PT_FAMILY_INDICATOR:' | sed -n 's/.*value: //p')" '"2.0"' "family"
    eq "$(fixed TPM2_PT_PCR_COUNT)" 24 "TPM2_PT_PCR_COUNT"
    eq "$(fixed TPM2_PT_PCR_SELECT_MIN)" 3 "TPM2_PT_PCR_SELECT_MIN"
    eq "$(fixed TPM2_PT_MAX_DIGEST)" 64 "TPM2_PT_MAX_DIGEST"
    [ "$(fixed TPM2_PT_HR_TRANSIENT_MIN)" -ge 3 ] || fail "TPM2_PT_HR_TRANSIENT_MIN < 3"
    [ "$(fixed TPM2_PT_HR_LOADED_MIN)" -ge 3 ] || fail "TPM2_PT_HR_LOADED_MIN < 3"
    [ "$(fixed TPM2_PT_ACTIVE_SESSIONS_MAX)" -ge 64 ] || fail "TPM2_PT_ACTIVE_SESSIONS_MAX < 64"
    [ "$(fixed TPM2_PT_INPUT_BUFFER)" -ge 1024 ] || fail "TPM2_PT_INPUT_BUFFER < 1024"
    [ "$(fixed TPM2_PT_MAX_COMMAND_SIZE)" -ge 4096 ] || fail "TPM2_PT_MAX_COMMAND_SIZE < 4096"
    [ "$(fixed TPM2_PT_MAX_RESPONSE_SIZE)" -ge 4096 ] || fail "TPM2_PT_MAX_RESPONSE_SIZE < 4096"
    lib=$(fixed TPM2_PT_LIBRARY_COMMANDS)
    ven=$(fixed TPM2_PT_VENDOR_COMMANDS)
    eq "$(fixed TPM2_PT_TOTAL_COMMANDS)" "$((lib + ven))" "TOTAL = LIBRARY + VENDOR commands"
    [ "$(fixed TPM2_PT_YEAR)" -ge 2014 ] || fail "TPM2_PT_YEAR"
    match "$(printf '%s\n' "$out" | grep -A1 '^TPM2_PT_MANUFACTURER:')" 'raw: 0x[0-9A-Fa-f]+' "manufacturer"
}

c_properties_variable() {
    out=$(tpm tpm2_getcap properties-variable)
    for f in phEnable shEnable ehEnable phEnableNV; do
        eq "$(yaml "$out" $f)" 1 "$f"
    done
    for f in ownerAuthSet endorsementAuthSet lockoutAuthSet disableClear inLockout; do
        eq "$(yaml "$out" $f)" 0 "$f"
    done
    eq "$(yaml "$out" orderly)" 1 "orderly"
    eq "$(($(yaml "$out" TPM2_PT_HR_LOADED)))" 0 "TPM2_PT_HR_LOADED"
    eq "$(($(yaml "$out" TPM2_PT_LOCKOUT_COUNTER)))" 0 "TPM2_PT_LOCKOUT_COUNTER"
}

c_loaded_counters_track_objects() {
    primary p.ctx ecc256
    avail0=$(($(prop TPM2_PT_HR_TRANSIENT_AVAIL)))
    tool tpm2_createprimary -Q -C o -G ecc256 -c q.ctx
    avail1=$(($(prop TPM2_PT_HR_TRANSIENT_AVAIL)))
    eq "$avail1" "$((avail0 - 1))" "TPM2_PT_HR_TRANSIENT_AVAIL after loading one more object"
    tpm2_flushcontext -t
    eq "$(($(prop TPM2_PT_HR_TRANSIENT_AVAIL)))" "$((avail0 + 1))" "TPM2_PT_HR_TRANSIENT_AVAIL after flushing"
}

c_ecc_curves() {
    out=$(tpm tpm2_getcap ecc-curves)
    match "$out" 'TPM2_ECC_NIST_P256: 0x3' "P-256"
    match "$out" 'TPM2_ECC_NIST_P384: 0x4' "P-384"
}

c_handles_permanent() {
    out=$(handles handles-permanent)
    for h in 0x40000001 0x40000007 0x40000009 0x4000000a 0x4000000b 0x4000000c; do
        grep -qx "$h" <<<"$out" || fail "permanent handle $h not listed"
    done
}

c_handles_pcr() {
    out=$(handles handles-pcr)
    eq "$(printf '%s\n' "$out" | wc -l)" 24 "PCR handles"
    eq "$(sed -n 1p <<<"$out")" 0x00000000 "first PCR handle"
    eq "$(printf '%s\n' "$out" | tail -n 1)" 0x00000017 "last PCR handle"
}

c_handles_transient() {
    eq "$(handles handles-transient)" "" "transient handles of an idle TPM"
    primary p.ctx ecc256
    out=$(handles handles-transient)
    match "$out" '^0x80[0-9a-f]{6}$' "one transient handle"
    tpm2_flushcontext -t
    eq "$(handles handles-transient)" "" "transient handles after flush"
}

c_handles_persistent() {
    eq "$(handles handles-persistent)" "" "persistent handles of a fresh TPM"
    primary p.ctx ecc256
    tool tpm2_evictcontrol -C o -c p.ctx 0x81000010
    eq "$(handles handles-persistent)" 0x81000010 "persistent handles after evictcontrol"
    tpm tpm2_evictcontrol -C o -c 0x81000010
    eq "$(handles handles-persistent)" "" "persistent handles after eviction"
}

c_handles_nv_index_fresh() {
    eq "$(handles handles-nv-index)" "" "NV indices of a fresh TPM"
}

c_handles_sessions() {
    eq "$(handles handles-loaded-session)$(handles handles-saved-session)" "" "sessions of an idle TPM"
    tpm tpm2_startauthsession --hmac-session -S s.ctx
    # The tool saved the session context: it is listed as a saved session, not loaded.
    h=$(tpm2_sessionconfig s.ctx | sed -n 's/Session-Handle: //p')
    saved=$(handles handles-saved-session)
    eq "$(printf '%s\n' "$saved" | wc -l)" 1 "saved sessions"
    eq "$((saved & 0xffffff))" "$((h & 0xffffff))" "saved session handle (low 24 bits)"
    eq "$(handles handles-loaded-session)" "" "loaded sessions"
    tpm tpm2_flushcontext s.ctx
    eq "$(handles handles-saved-session)" "" "saved sessions after flush"
}

c_saved_session_handle_type() {
    # The reference implementation reports saved sessions with the HMAC-session type
    # (0x02), whatever the session kind.
    tpm tpm2_startauthsession --policy-session -S s.ctx
    eq "$(handles handles-saved-session)" 0x02000000 "saved policy session handle"
    tpm tpm2_flushcontext s.ctx
}

c_testparms_rsa() {
    for a in rsa1024 rsa2048 rsa3072; do tpm tpm2_testparms $a; done
}

c_testparms_rsa4096() {
    [ "$TPM_PEER" = swtpm ] && skip "libtpms 0.9 has no RSA-4096"
    tpm tpm2_testparms rsa4096
}

c_testparms_ecc() {
    for a in ecc256 ecc384 ecc521; do tpm tpm2_testparms $a; done
}

c_testparms_aes() {
    for a in aes128 aes256 aes128cfb aes256cfb aes128ctr aes128ofb aes128cbc aes128ecb; do
        tpm tpm2_testparms $a
    done
}

c_testparms_aes192() {
    [ "$TPM_PEER" = swtpm ] && skip "libtpms 0.9 has no AES-192"
    tpm tpm2_testparms aes192
}

c_testparms_keyedhash() {
    for a in hmac keyedhash xor; do tpm tpm2_testparms $a; done
}

c_testparms_schemes() {
    for a in rsa2048:rsassa-sha256 rsa2048:rsapss-sha384 rsa2048:oaep-sha256 rsa2048:rsaes \
        ecc256:ecdsa-sha256 ecc384:ecdsa-sha384 ecc256:ecdh-sha256 ecc256:ecschnorr-sha256 \
        rsa2048:null:aes128cfb ecc256:null:aes256cfb; do
        tpm tpm2_testparms $a
    done
}

c_testparms_unsupported() {
    # SM4 is not in the PC Client profile: the tool reports "unsupported" (exit code 5).
    rc=0
    tpm tpm2_testparms sm4 || rc=$?
    eq "$rc" 5 "tpm2_testparms sm4 exit code"
}

run_case algorithms c_algorithms
run_case commands c_commands
run_case pcrs c_pcrs
run_case properties_fixed c_properties_fixed
run_case properties_variable c_properties_variable
run_case loaded_counters_track_objects c_loaded_counters_track_objects
run_case ecc_curves c_ecc_curves
run_case handles_permanent c_handles_permanent
run_case handles_pcr c_handles_pcr
run_case handles_transient c_handles_transient
run_case handles_persistent c_handles_persistent
run_case handles_nv_index_fresh c_handles_nv_index_fresh
run_case handles_sessions c_handles_sessions
run_case saved_session_handle_type c_saved_session_handle_type
run_case testparms_rsa c_testparms_rsa
run_case testparms_rsa4096 c_testparms_rsa4096
run_case testparms_ecc c_testparms_ecc
run_case testparms_aes c_testparms_aes
run_case testparms_aes192 c_testparms_aes192
run_case testparms_keyedhash c_testparms_keyedhash
run_case testparms_schemes c_testparms_schemes
run_case testparms_unsupported c_testparms_unsupported
finish
