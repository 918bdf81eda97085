#!/bin/bash
# Audit: tpm2_setcommandauditstatus, tpm2_getcommandauditdigest, tpm2_getsessionauditdigest
# (and audit sessions from tpm2_startauthsession). Digests are recomputed with openssl.
. "$(dirname "$0")/lib.sh"
startup || exit 1

ZERO=$(printf '%064d' 0)

case_cleanup() {
    tpm2_setcommandauditstatus --clear-list TPM2_CC_GetRandom
    tpm2_setcommandauditstatus --clear-list TPM2_CC_StirRandom
    tpm2_flushcontext -t
    tpm2_flushcontext -s
}

# A restricted RSA signing key -> ak.ctx, ak.pem.
ak() {
    primary
    tpm tpm2_create -C primary.ctx -G rsa2048:rsassa-sha256:null \
        -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign" -u ak.pub -r ak.priv -c ak.ctx
    tpm tpm2_readpublic -c ak.ctx -f pem -o ak.pem
}

# attested FILE: the hex of the attested part of a TPMS_ATTEST (after magic, type,
# qualifiedSigner, extraData, clockInfo and firmwareVersion).
attested() {
    local h o n
    h=$(hexof "$1")
    o=12
    n=$((0x${h:o:4}))
    o=$((o + 4 + 2 * n))
    n=$((0x${h:o:4}))
    o=$((o + 4 + 2 * n + 2 * 17 + 2 * 8))
    echo "${h:o}"
}

# TPMS_COMMAND_AUDIT_INFO: auditCounter (8), digestAlg (2), auditDigest, commandDigest.
audit_counter() { local a; a=$(attested "$1"); echo $((0x${a:0:16})); }
audit_alg() { local a; a=$(attested "$1"); echo "${a:16:4}"; }
audit_digest() { local a n; a=$(attested "$1"); n=$((0x${a:20:4})); echo "${a:24:2*n}"; }
command_digest() {
    local a n
    a=$(attested "$1")
    n=$((0x${a:20:4}))
    a=${a:24+2*n}
    echo "${a:4:2*0x${a:0:4}}"
}

cmd_audit() { # cmd_audit OUT: signed command audit digest -> OUT.att, OUT.sig
    tpm tpm2_getcommandauditdigest -c ak.ctx -g sha256 -f plain -m "$1.att" -s "$1.sig"
    openssl dgst -sha256 -verify ak.pem -signature "$1.sig" "$1.att" >/dev/null || fail "openssl rejects the audit signature"
}

c_default_list() {
    ak
    tpm tpm2_setcommandauditstatus -g sha256
    cmd_audit a
    eq "$(head -c 6 a.att | hexof /dev/stdin)" ff5443478015 "TPM_ST_ATTEST_COMMAND_AUDIT"
    # Only TPM2_SetCommandCodeAuditStatus (0x140) is audited by default.
    # commandDigest = H(the audited command codes, in ascending order).
    eq "$(command_digest a.att)" "$(unhex 00000140 | sha256)" "commandDigest of the default list"
    eq "$(audit_alg a.att)" 000b "digestAlg"
}

c_add_and_remove() {
    ak
    tpm tpm2_setcommandauditstatus -g sha256
    tpm tpm2_setcommandauditstatus TPM2_CC_GetRandom
    cmd_audit a
    eq "$(command_digest a.att)" "$(unhex 000001400000017b | sha256)" "commandDigest with GetRandom"
    tpm tpm2_setcommandauditstatus TPM2_CC_StirRandom
    cmd_audit b
    eq "$(command_digest b.att)" "$(unhex 00000140000001460000017b | sha256)" "commandDigest with GetRandom and StirRandom"
    tpm tpm2_setcommandauditstatus --clear-list TPM2_CC_GetRandom
    tpm tpm2_setcommandauditstatus --clear-list TPM2_CC_StirRandom
    cmd_audit c
    eq "$(command_digest c.att)" "$(unhex 00000140 | sha256)" "commandDigest after clearing"
}

c_audited_command_extends_digest() {
    ak
    tpm tpm2_setcommandauditstatus -g sha256
    tpm tpm2_setcommandauditstatus TPM2_CC_GetRandom
    # GetCommandAuditDigest resets the audit digest...
    cmd_audit a
    tpm tpm2_getrandom 8 -o r.bin
    tpm tpm2_getrandom 4 -o r2.bin
    cmd_audit b
    # ...then each audited command extends it: H(auditDigest || cpHash || rpHash).
    cp=$(unhex 0000017b0008 | sha256)
    rp=$(unhex "000000000000017b0008$(hexof r.bin)" | sha256)
    d1=$(unhex "$ZERO$cp$rp" | sha256)
    cp=$(unhex 0000017b0004 | sha256)
    rp=$(unhex "000000000000017b0004$(hexof r2.bin)" | sha256)
    eq "$(audit_digest b.att)" "$(unhex "$d1$cp$rp" | sha256)" "audit digest after GetRandom(8), GetRandom(4)"
}

c_unaudited_command_ignored() {
    ak
    tpm tpm2_setcommandauditstatus -g sha256
    cmd_audit a
    ne "$(audit_digest a.att)" "" "audit digest after SetCommandCodeAuditStatus"
    tpm tpm2_getrandom 8 -o r.bin
    cmd_audit b
    # Reset by the first GetCommandAuditDigest, not extended by GetRandom.
    eq "$(audit_digest b.att)" "" "audit digest after an unaudited command"
}

c_audit_counter() {
    ak
    tpm tpm2_setcommandauditstatus -g sha256
    tpm tpm2_setcommandauditstatus TPM2_CC_GetRandom
    cmd_audit a
    c0=$(audit_counter a.att)
    # The first audited command after a reset of the digest increments the counter.
    tpm tpm2_getrandom 4 -o r.bin
    tpm tpm2_getrandom 4 -o r.bin
    cmd_audit b
    eq "$(audit_counter b.att)" "$((c0 + 1))" "audit counter"
    eq "$(audit_alg b.att)" 000b "digestAlg"
}

c_session_audit() {
    ak
    tpm tpm2_startauthsession --audit-session -S s.ctx
    out=$(tpm tpm2_sessionconfig s.ctx)
    match "$out" 'audit' "session attributes"
    tpm tpm2_getrandom 8 -S s.ctx -o r.bin
    tpm tpm2_getsessionauditdigest -c ak.ctx -S s.ctx -g sha256 -f plain -m att.bin -s sig.bin
    openssl dgst -sha256 -verify ak.pem -signature sig.bin att.bin >/dev/null || fail "openssl rejects the signature"
    eq "$(head -c 6 att.bin | hexof /dev/stdin)" ff5443478016 "TPM_ST_ATTEST_SESSION_AUDIT"
    cp=$(unhex 0000017b0008 | sha256)
    rp=$(unhex "000000000000017b0008$(hexof r.bin)" | sha256)
    eq "$(tail -c 32 att.bin | hexof /dev/stdin)" "$(unhex "$ZERO$cp$rp" | sha256)" "session audit digest"
    tpm tpm2_flushcontext s.ctx
}

c_session_audit_two_commands() {
    ak
    tpm tpm2_startauthsession --audit-session -S s.ctx
    tpm tpm2_getrandom 4 -S s.ctx -o r1.bin
    printf 'stir' >stir.bin
    tpm tpm2_getrandom 6 -S s.ctx -o r2.bin
    tpm tpm2_getsessionauditdigest -c ak.ctx -S s.ctx -g sha256 -f plain -m att.bin -s sig.bin
    d1=$(unhex "$ZERO$(unhex 0000017b0004 | sha256)$(unhex "000000000000017b0004$(hexof r1.bin)" | sha256)" | sha256)
    d2=$(unhex "$d1$(unhex 0000017b0006 | sha256)$(unhex "000000000000017b0006$(hexof r2.bin)" | sha256)" | sha256)
    eq "$(tail -c 32 att.bin | hexof /dev/stdin)" "$d2" "session audit digest after two commands"
    tpm tpm2_flushcontext s.ctx
}

run_case default_list c_default_list
run_case add_and_remove c_add_and_remove
run_case audited_command_extends_digest c_audited_command_extends_digest
run_case unaudited_command_ignored c_unaudited_command_ignored
run_case audit_counter c_audit_counter
run_case session_audit c_session_audit
run_case session_audit_two_commands c_session_audit_two_commands
finish
