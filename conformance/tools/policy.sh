#!/bin/bash
# Sessions and policies: tpm2_startauthsession (trial, policy, HMAC, bound, salted),
# tpm2_sessionconfig, tpm2_policy{commandcode,authvalue,password,pcr,secret,or,authorize,
# signed,locality,countertimer,cphash,namehash,template,restart}, tpm2_getpolicydigest,
# tpm2_createpolicy. Every policy digest is recomputed with openssl (TPM 2.0 Part 3).
. "$(dirname "$0")/lib.sh"
startup || exit 1

ZERO=$(printf '%064d' 0)

case_cleanup() {
    [ "$(yaml "$(tpm2_getcap properties-variable)" ownerAuthSet)" = 1 ] && tpm2_changeauth -c o -p opw
    tpm2_flushcontext -t
    tpm2_flushcontext -l
    tpm2_flushcontext -s
    tpm2_pcrreset 16
    da_reset
}

# pext OLD_HEX CC_HEX [ARG_HEX]: H(old || commandCode || args), the policy update.
pext() { unhex "$1$2${3:-}" | sha256; }

# pdigest FILE: a policy digest file as hex.
pdigest() { hexof "$1"; }

# trial CMD...: run CMD in a fresh trial session (it must take -S s.ctx -L <file>).
trial() {
    tpm tpm2_startauthsession -S trial.ctx
    tpm "$@"
    tpm tpm2_flushcontext trial.ctx
}

# A sealed object with policy file $1 and attributes without userwithauth -> obj.ctx.
seal_with_policy() {
    primary
    printf 'policy secret' >secret.txt
    tpm tpm2_create -C primary.ctx -i secret.txt -L "$1" -a "fixedtpm|fixedparent" ${2:+-p "$2"} -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c obj.ctx
}

c_trial_commandcode() {
    trial tpm2_policycommandcode -S trial.ctx -L cc.policy TPM2_CC_Unseal
    eq "$(pdigest cc.policy)" "$(pext $ZERO 0000016c 0000015e)" "PolicyCommandCode(Unseal) digest"
}

c_trial_authvalue() {
    trial tpm2_policyauthvalue -S trial.ctx -L av.policy
    eq "$(pdigest av.policy)" "$(pext $ZERO 0000016b)" "PolicyAuthValue digest"
}

c_trial_password() {
    # PolicyPassword extends the digest exactly as PolicyAuthValue does.
    trial tpm2_policypassword -S trial.ctx -L pw.policy
    eq "$(pdigest pw.policy)" "$(pext $ZERO 0000016b)" "PolicyPassword digest"
}

c_trial_chain() {
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policycommandcode -S t.ctx TPM2_CC_Unseal
    tpm tpm2_policyauthvalue -S t.ctx -L chain.policy
    tpm tpm2_getpolicydigest -S t.ctx -o got.bin
    tpm tpm2_flushcontext t.ctx
    want=$(pext "$(pext $ZERO 0000016c 0000015e)" 0000016b)
    eq "$(pdigest chain.policy)" "$want" "CommandCode then AuthValue"
    eq "$(pdigest got.bin)" "$want" "tpm2_getpolicydigest"
}

c_policyrestart() {
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policyauthvalue -S t.ctx
    tpm tpm2_policyrestart -S t.ctx
    tpm tpm2_getpolicydigest -S t.ctx -o got.bin
    tpm tpm2_flushcontext t.ctx
    eq "$(pdigest got.bin)" "$ZERO" "digest after PolicyRestart"
}

c_trial_session_sha1() {
    tpm tpm2_startauthsession -g sha1 -S t.ctx
    tpm tpm2_policyauthvalue -S t.ctx -L av.policy
    tpm tpm2_flushcontext t.ctx
    eq "$(pdigest av.policy)" "$(unhex "$(printf '%040d' 0)0000016b" | openssl dgst -sha1 -r | cut -d' ' -f1)" "SHA-1 PolicyAuthValue"
}

c_trial_locality() {
    trial tpm2_policylocality -S trial.ctx -L loc.policy zero
    eq "$(pdigest loc.policy)" "$(pext $ZERO 0000016f 01)" "PolicyLocality(zero)"
}

c_trial_cphash() {
    # cpHash of GetRandom(8), as the tool computes it: H(TPM_CC_GetRandom || 0008).
    tpm tpm2_getrandom 8 --cphash cp.tpm2b
    cp=$(unhex 0000017b0008 | sha256)
    eq "$(hexof cp.tpm2b)" "0020$cp" "cpHash of GetRandom(8)"
    trial tpm2_policycphash -S trial.ctx -L cp.policy --cphash-input cp.tpm2b
    eq "$(pdigest cp.policy)" "$(pext $ZERO 0000016e "$cp")" "PolicyCpHash"
}

c_trial_namehash() {
    nh=$(printf 'names' | sha256)
    unhex "$nh" >nh.bin
    trial tpm2_policynamehash -S trial.ctx -L nh.policy -n nh.bin
    eq "$(pdigest nh.policy)" "$(pext $ZERO 00000170 "$nh")" "PolicyNameHash"
}

c_trial_template() {
    th=$(printf 'template' | sha256)
    unhex "$th" >th.bin
    trial tpm2_policytemplate -S trial.ctx -L t.policy --template-hash th.bin
    eq "$(pdigest t.policy)" "$(pext $ZERO 00000190 "$th")" "PolicyTemplate"
}

c_trial_countertimer() {
    # operandB = 0x000000000000ea60 (60000 ms), offset 0 (time), TPM_EO_UNSIGNED_LT = 0x0005.
    trial tpm2_policycountertimer -S trial.ctx -L ct.policy --ult 60000
    args=$(unhex "000000000000ea6000000005" | sha256)
    eq "$(pdigest ct.policy)" "$(pext $ZERO 0000016d "$args")" "PolicyCounterTimer"
}

c_trial_pcr() {
    tpm tpm2_pcrread sha256:0,1 -o pcrs.bin
    trial tpm2_policypcr -S trial.ctx -l sha256:0,1 -L pcr.policy
    sel=00000001000b03030000
    eq "$(pdigest pcr.policy)" "$(pext $ZERO 0000017f "$sel$(sha256 pcrs.bin)")" "PolicyPCR(sha256:0,1)"
    # The same with a PCR file given by the user.
    trial tpm2_policypcr -S trial.ctx -l sha256:0,1 -f pcrs.bin -L pcr2.policy
    same_file pcr.policy pcr2.policy "PolicyPCR with -f"
}

c_createpolicy_pcr() {
    tpm tpm2_pcrread sha256:7 -o pcr7.bin
    tpm tpm2_createpolicy --policy-pcr -l sha256:7 -L cp.policy
    # PCR 7: select bytes 80 00 00.
    eq "$(pdigest cp.policy)" "$(pext $ZERO 0000017f "00000001000b03800000$(sha256 pcr7.bin)")" "tpm2_createpolicy --policy-pcr"
}

c_trial_secret() {
    trial tpm2_policysecret -S trial.ctx -c o -L sec.policy
    eq "$(pdigest sec.policy)" "$(unhex "$(pext $ZERO 00000151 40000001)" | sha256)" "PolicySecret(owner)"
}

c_trial_or() {
    trial tpm2_policycommandcode -S trial.ctx -L a.policy TPM2_CC_Unseal
    trial tpm2_policyauthvalue -S trial.ctx -L b.policy
    trial tpm2_policyor -S trial.ctx -L or.policy -l sha256:a.policy,b.policy
    eq "$(pdigest or.policy)" "$(pext $ZERO 00000171 "$(pdigest a.policy)$(pdigest b.policy)")" "PolicyOR"
}

c_unseal_commandcode_authvalue() {
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policycommandcode -S t.ctx TPM2_CC_Unseal
    tpm tpm2_policyauthvalue -S t.ctx -L p.policy
    tpm tpm2_flushcontext t.ctx
    seal_with_policy p.policy pw
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_Unseal
    tpm tpm2_policyauthvalue -S s.ctx
    tpm tpm2_unseal -c obj.ctx -p session:s.ctx+pw -o out.txt
    tpm tpm2_flushcontext s.ctx
    same_file out.txt secret.txt "unsealed"
}

c_unseal_policy_wrong_password() {
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policyauthvalue -S t.ctx -L p.policy
    tpm tpm2_flushcontext t.ctx
    seal_with_policy p.policy pw
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policyauthvalue -S s.ctx
    expect_rc 0x98e tpm2_unseal -c obj.ctx -p session:s.ctx+bad
    tpm2_flushcontext s.ctx 2>/dev/null || true
}

c_unseal_policy_password() {
    trial tpm2_policypassword -S trial.ctx -L p.policy
    seal_with_policy p.policy pw
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policypassword -S s.ctx
    tpm tpm2_unseal -c obj.ctx -p session:s.ctx+pw -o out.txt
    tpm tpm2_flushcontext s.ctx
    same_file out.txt secret.txt "unsealed"
}

c_unseal_wrong_commandcode() {
    trial tpm2_policycommandcode -S trial.ctx -L p.policy TPM2_CC_Unseal
    seal_with_policy p.policy
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_Create
    expect_rc 0x99d tpm2_unseal -c obj.ctx -p session:s.ctx
    tpm2_flushcontext s.ctx 2>/dev/null || true
}

c_policy_without_userwithauth() {
    # userWithAuth clear: a password cannot authorize the USER role.
    trial tpm2_policycommandcode -S trial.ctx -L p.policy TPM2_CC_Unseal
    seal_with_policy p.policy
    expect_rc 0x12f tpm2_unseal -c obj.ctx
}

c_trial_session_cannot_authorize() {
    trial tpm2_policycommandcode -S trial.ctx -L p.policy TPM2_CC_Unseal
    seal_with_policy p.policy
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policycommandcode -S t.ctx TPM2_CC_Unseal
    expect_fail tpm2_unseal -c obj.ctx -p session:t.ctx
    tpm2_flushcontext t.ctx 2>/dev/null || true
}

c_policy_session_reset_after_use() {
    trial tpm2_policycommandcode -S trial.ctx -L p.policy TPM2_CC_Unseal
    seal_with_policy p.policy
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_Unseal
    tpm tpm2_unseal -c obj.ctx -p session:s.ctx -o out.txt
    # The session continues, with its policy digest reset: the same use fails again.
    tpm tpm2_getpolicydigest -S s.ctx -o d.bin
    eq "$(pdigest d.bin)" "$ZERO" "policy digest after use"
    expect_rc 0x99d tpm2_unseal -c obj.ctx -p session:s.ctx
    tpm2_flushcontext s.ctx 2>/dev/null || true
}

c_unseal_policypcr() {
    tpm tpm2_pcrreset 16
    trial tpm2_policypcr -S trial.ctx -l sha256:16 -L p.policy
    seal_with_policy p.policy
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policypcr -S s.ctx -l sha256:16
    tpm tpm2_unseal -c obj.ctx -p session:s.ctx -o out.txt
    tpm tpm2_flushcontext s.ctx
    same_file out.txt secret.txt "unsealed with PCR 16 as sealed"
    tpm tpm2_pcrextend 16:sha256="$(printf x | sha256)"
    tpm tpm2_startauthsession --policy-session -S s2.ctx
    tpm tpm2_policypcr -S s2.ctx -l sha256:16
    expect_rc 0x99d tpm2_unseal -c obj.ctx -p session:s2.ctx
    tpm2_flushcontext s2.ctx 2>/dev/null || true
}

c_policypcr_changed_after_policy() {
    # PCR 10 (16 and 23 do not move the PCR update counter in the PC Client profile).
    trial tpm2_policypcr -S trial.ctx -l sha256:10 -L p.policy
    seal_with_policy p.policy
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policypcr -S s.ctx -l sha256:10
    # PCRs change between PolicyPCR and the use: TPM_RC_PCR_CHANGED.
    tpm tpm2_pcrextend 10:sha256="$(printf y | sha256)"
    expect_rc 0x128 tpm2_unseal -c obj.ctx -p session:s.ctx
    tpm2_flushcontext s.ctx 2>/dev/null || true
}

c_unseal_policysecret() {
    trial tpm2_policysecret -S trial.ctx -c o -L p.policy
    seal_with_policy p.policy
    tpm tpm2_changeauth -c o opw
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policysecret -S s.ctx -c o opw
    tpm tpm2_unseal -c obj.ctx -p session:s.ctx -o out.txt
    tpm tpm2_flushcontext s.ctx
    same_file out.txt secret.txt "unsealed"
    tpm tpm2_startauthsession --policy-session -S s2.ctx
    expect_rc 0x9a2 tpm2_policysecret -S s2.ctx -c o wrong
    tpm2_flushcontext s2.ctx 2>/dev/null || true
    tpm tpm2_changeauth -c o -p opw
}

c_policyticket() {
    # PolicySecret with a negative expiration (-500 s) and the session nonce returns a
    # ticket; PolicyTicket replays it in another session.
    trial tpm2_policysecret -S trial.ctx -c o -L p.policy
    seal_with_policy p.policy
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policysecret -S s.ctx -c o -t -500 --nonce-tpm --ticket tic.ket --timeout time.out
    tpm tpm2_flushcontext s.ctx
    [ -s tic.ket ] && [ -s time.out ] || fail "no ticket or timeout"
    unhex 40000001 >owner.name
    tpm tpm2_startauthsession --policy-session -S s2.ctx
    tpm tpm2_policyticket -S s2.ctx -n owner.name --ticket tic.ket --timeout time.out
    tpm tpm2_unseal -c obj.ctx -p session:s2.ctx -o out.txt
    tpm tpm2_flushcontext s2.ctx
    same_file out.txt secret.txt "unsealed through PolicyTicket"
}

c_unseal_policyor() {
    tpm tpm2_pcrreset 16
    trial tpm2_policypcr -S trial.ctx -l sha256:16 -L pcr.policy
    trial tpm2_policypassword -S trial.ctx -L pw.policy
    trial tpm2_policyor -S trial.ctx -L or.policy -l sha256:pcr.policy,pw.policy
    seal_with_policy or.policy pw
    # Branch 1: the PCR.
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policypcr -S s.ctx -l sha256:16
    tpm tpm2_policyor -S s.ctx -l sha256:pcr.policy,pw.policy
    tpm tpm2_unseal -c obj.ctx -p session:s.ctx -o out1.txt
    tpm tpm2_flushcontext s.ctx
    same_file out1.txt secret.txt "unsealed through the PCR branch"
    # Branch 2: the password.
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policypassword -S s.ctx
    tpm tpm2_policyor -S s.ctx -l sha256:pcr.policy,pw.policy
    tpm tpm2_unseal -c obj.ctx -p session:s.ctx+pw -o out2.txt
    tpm tpm2_flushcontext s.ctx
    same_file out2.txt secret.txt "unsealed through the password branch"
}

c_policyor_not_a_branch() {
    trial tpm2_policypassword -S trial.ctx -L pw.policy
    trial tpm2_policycommandcode -S trial.ctx -L cc.policy TPM2_CC_Unseal
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policyauthvalue -S s.ctx
    # The current digest is not in the list... PolicyAuthValue = PolicyPassword digest, so
    # use a session with no policy at all.
    tpm tpm2_policyrestart -S s.ctx
    tpm tpm2_policylocality -S s.ctx zero
    expect_rc 0x1c4 tpm2_policyor -S s.ctx -l sha256:pw.policy,cc.policy
    tpm2_flushcontext s.ctx 2>/dev/null || true
}

# An RSA signing authority (openssl) loaded as an external public key -> auth.ctx, auth.name.
authority() {
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out auth.key 2>/dev/null
    openssl pkey -in auth.key -pubout -out auth.pub.pem
    tpm tpm2_loadexternal -C o -G rsa -u auth.pub.pem -c auth.ctx -n auth.name
}

c_policyauthorize() {
    authority
    trial tpm2_policyauthorize -S trial.ctx -L authz.policy -n auth.name
    eq "$(pdigest authz.policy)" "$(unhex "$(pext $ZERO 0000016a "$(hexof auth.name)")" | sha256)" "PolicyAuthorize digest"
    seal_with_policy authz.policy
    # The authority approves a PCR policy by signing it.
    tpm tpm2_pcrreset 16
    trial tpm2_policypcr -S trial.ctx -l sha256:16 -L pcr.policy
    openssl dgst -sha256 -sign auth.key -out pcr.sig pcr.policy
    tpm tpm2_verifysignature -c auth.ctx -g sha256 -m pcr.policy -s pcr.sig -f rsassa -t pcr.tkt
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policypcr -S s.ctx -l sha256:16
    tpm tpm2_policyauthorize -S s.ctx -i pcr.policy -n auth.name -t pcr.tkt
    tpm tpm2_unseal -c obj.ctx -p session:s.ctx -o out.txt
    tpm tpm2_flushcontext s.ctx
    same_file out.txt secret.txt "unsealed through an authorized policy"
}

c_policyauthorize_unapproved() {
    authority
    trial tpm2_policyauthorize -S trial.ctx -L authz.policy -n auth.name
    trial tpm2_policypcr -S trial.ctx -l sha256:16 -L pcr.policy
    trial tpm2_policypassword -S trial.ctx -L other.policy
    openssl dgst -sha256 -sign auth.key -out pcr.sig pcr.policy
    tpm tpm2_verifysignature -c auth.ctx -g sha256 -m pcr.policy -s pcr.sig -f rsassa -t pcr.tkt
    # A signature over another policy does not verify...
    expect_fail tpm2_verifysignature -c auth.ctx -g sha256 -m other.policy -s pcr.sig -f rsassa -t other.tkt
    # ...and the ticket for pcr.policy does not approve other.policy.
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policypassword -S s.ctx
    expect_fail tpm2_policyauthorize -S s.ctx -i other.policy -n auth.name -t pcr.tkt
    tpm2_flushcontext s.ctx 2>/dev/null || true
}

c_policysigned() {
    authority
    # expiration 0, no nonce, no cpHash, no policyRef: the authority signs 00000000.
    unhex 00000000 >ahash.in
    openssl dgst -sha256 -sign auth.key -out a.sig ahash.in
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policysigned -S t.ctx -g sha256 -s a.sig -f rsassa -c auth.ctx -L signed.policy
    tpm tpm2_flushcontext t.ctx
    eq "$(pdigest signed.policy)" "$(unhex "$(pext $ZERO 00000160 "$(hexof auth.name)")" | sha256)" "PolicySigned digest"
    seal_with_policy signed.policy
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policysigned -S s.ctx -g sha256 -s a.sig -f rsassa -c auth.ctx
    tpm tpm2_unseal -c obj.ctx -p session:s.ctx -o out.txt
    tpm tpm2_flushcontext s.ctx
    same_file out.txt secret.txt "unsealed through PolicySigned"
}

c_policysigned_bad_signature() {
    authority
    unhex 00000001 >other.in
    openssl dgst -sha256 -sign auth.key -out bad.sig other.in
    tpm tpm2_startauthsession --policy-session -S s.ctx
    expect_rc 0x5db tpm2_policysigned -S s.ctx -g sha256 -s bad.sig -f rsassa -c auth.ctx
    tpm2_flushcontext s.ctx 2>/dev/null || true
}

c_policycountertimer_real() {
    # The TPM has run for less than 2^40 ms: "time < 2^40" holds, "time > 2^40" does not.
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycountertimer -S s.ctx --ult 1099511627776
    expect_rc 0x126 tpm2_policycountertimer -S s.ctx --ugt 1099511627776
    tpm2_flushcontext s.ctx 2>/dev/null || true
}

c_hmac_session_unseal() {
    primary
    printf 'hmac' >d.txt
    tpm tpm2_create -C primary.ctx -i d.txt -p pw -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c obj.ctx
    tpm tpm2_startauthsession --hmac-session -S h.ctx
    tpm tpm2_unseal -c obj.ctx -p session:h.ctx+pw -o out.txt
    same_file out.txt d.txt "unsealed over an HMAC session"
    # The session continues: use it again.
    tpm tpm2_unseal -c obj.ctx -p session:h.ctx+pw -o out2.txt
    same_file out2.txt d.txt "unsealed again over the same HMAC session"
    tpm tpm2_flushcontext h.ctx
}

c_hmac_session_encrypted_unseal() {
    primary
    printf 'encrypted response' >d.txt
    tpm tpm2_create -C primary.ctx -i d.txt -p pw -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c obj.ctx
    tpm tpm2_startauthsession --hmac-session -S h.ctx
    tpm tpm2_sessionconfig --enable-encrypt h.ctx
    out=$(tpm tpm2_sessionconfig h.ctx)
    match "$out" 'encrypt' "session attributes"
    tpm tpm2_unseal -c obj.ctx -p session:h.ctx+pw -o out.txt
    same_file out.txt d.txt "unsealed with response encryption"
    tpm tpm2_flushcontext h.ctx
}

c_hmac_session_encrypted_create() {
    # Command parameter encryption: the sealed data travels encrypted in Create.
    primary
    printf 'encrypted command' >d.txt
    tpm tpm2_startauthsession --hmac-session -S h.ctx
    tpm tpm2_sessionconfig --enable-decrypt h.ctx
    tpm tpm2_create -C primary.ctx -P session:h.ctx -i d.txt -u s.pub -r s.priv
    tpm tpm2_flushcontext h.ctx
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c obj.ctx
    tpm tpm2_unseal -c obj.ctx -o out.txt
    same_file out.txt d.txt "unsealed data sent encrypted"
}

c_bound_session() {
    primary
    printf 'bound' >d.txt
    tpm tpm2_create -C primary.ctx -i d.txt -p pw -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c obj.ctx
    tpm tpm2_startauthsession --hmac-session --bind-context obj.ctx --bind-auth pw -S h.ctx
    tpm tpm2_unseal -c obj.ctx -p session:h.ctx+pw -o out.txt
    same_file out.txt d.txt "unsealed over a bound session"
    tpm tpm2_flushcontext h.ctx
}

c_salted_session() {
    primary
    printf 'salted' >d.txt
    tpm tpm2_create -C primary.ctx -i d.txt -p pw -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c obj.ctx
    tpm tpm2_startauthsession --hmac-session --tpmkey-context primary.ctx -S h.ctx
    tpm tpm2_sessionconfig --enable-encrypt h.ctx
    tpm tpm2_unseal -c obj.ctx -p session:h.ctx+pw -o out.txt
    same_file out.txt d.txt "unsealed over a salted session"
    tpm tpm2_flushcontext h.ctx
}

c_salted_ecc_session() {
    primary ecc.ctx ecc256
    printf 'salted ecc' >d.txt
    tpm tpm2_create -C ecc.ctx -i d.txt -p pw -u s.pub -r s.priv
    tpm tpm2_load -C ecc.ctx -u s.pub -r s.priv -c obj.ctx
    tpm tpm2_startauthsession --hmac-session --tpmkey-context ecc.ctx -S h.ctx
    tpm tpm2_unseal -c obj.ctx -p session:h.ctx+pw -o out.txt
    same_file out.txt d.txt "unsealed over an ECC-salted session"
    tpm tpm2_flushcontext h.ctx
}

c_many_saved_sessions() {
    # Sessions saved by the tools take no session slot: 8 of them coexist.
    for i in 1 2 3 4 5 6 7 8; do tpm tpm2_startauthsession --hmac-session -S h$i.ctx; done
    eq "$(tpm2_getcap handles-saved-session | grep -c '^- ')" 8 "saved sessions"
    for i in 1 2 3 4 5 6 7 8; do tpm tpm2_flushcontext h$i.ctx; done
    eq "$(tpm2_getcap handles-saved-session | grep -c '^- ' || true)" 0 "saved sessions after flush"
}

run_case trial_commandcode c_trial_commandcode
run_case trial_authvalue c_trial_authvalue
run_case trial_password c_trial_password
run_case trial_chain c_trial_chain
run_case policyrestart c_policyrestart
run_case trial_session_sha1 c_trial_session_sha1
run_case trial_locality c_trial_locality
run_case trial_cphash c_trial_cphash
run_case trial_namehash c_trial_namehash
run_case trial_template c_trial_template
run_case trial_countertimer c_trial_countertimer
run_case trial_pcr c_trial_pcr
run_case createpolicy_pcr c_createpolicy_pcr
run_case trial_secret c_trial_secret
run_case trial_or c_trial_or
run_case unseal_commandcode_authvalue c_unseal_commandcode_authvalue
run_case unseal_policy_wrong_password c_unseal_policy_wrong_password
run_case unseal_policy_password c_unseal_policy_password
run_case unseal_wrong_commandcode c_unseal_wrong_commandcode
run_case policy_without_userwithauth c_policy_without_userwithauth
run_case trial_session_cannot_authorize c_trial_session_cannot_authorize
run_case policy_session_reset_after_use c_policy_session_reset_after_use
run_case unseal_policypcr c_unseal_policypcr
run_case policypcr_changed_after_policy c_policypcr_changed_after_policy
run_case unseal_policysecret c_unseal_policysecret
run_case policyticket c_policyticket
run_case unseal_policyor c_unseal_policyor
run_case policyor_not_a_branch c_policyor_not_a_branch
run_case policyauthorize c_policyauthorize
run_case policyauthorize_unapproved c_policyauthorize_unapproved
run_case policysigned c_policysigned
run_case policysigned_bad_signature c_policysigned_bad_signature
run_case policycountertimer_real c_policycountertimer_real
run_case hmac_session_unseal c_hmac_session_unseal
run_case hmac_session_encrypted_unseal c_hmac_session_encrypted_unseal
run_case hmac_session_encrypted_create c_hmac_session_encrypted_create
run_case bound_session c_bound_session
run_case salted_session c_salted_session
run_case salted_ecc_session c_salted_ecc_session
run_case many_saved_sessions c_many_saved_sessions
finish
