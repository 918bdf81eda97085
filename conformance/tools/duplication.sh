#!/bin/bash
# Duplication and import: tpm2_duplicate, tpm2_import, tpm2_policyduplicationselect.
. "$(dirname "$0")/lib.sh"
startup || exit 1

ZERO=$(printf '%064d' 0)

case_cleanup() {
    tpm2_flushcontext -t
    tpm2_flushcontext -s
}

# A policy allowing TPM2_Duplicate (PolicyCommandCode) -> dup.policy.
dup_policy() {
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policycommandcode -S t.ctx -L dup.policy TPM2_CC_Duplicate
    tpm tpm2_flushcontext t.ctx
}

# The source parent (primary.ctx) and a new storage parent under it (np.ctx, np.pub).
parents() {
    primary
    tpm tpm2_create -C primary.ctx -G rsa2048 \
        -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt" -u np.pub -r np.priv
    tpm tpm2_load -C primary.ctx -u np.pub -r np.priv -c np.ctx
}

# A duplicable sealed object under primary.ctx -> obj.ctx, obj.pub (policy dup.policy).
dup_sealed() {
    printf 'duplicated secret' >secret.txt
    tpm tpm2_create -C primary.ctx -i secret.txt -L dup.policy -a "userwithauth" -u obj.pub -r obj.priv
    tpm tpm2_load -C primary.ctx -u obj.pub -r obj.priv -c obj.ctx
}

c_duplicate_import_null_wrapper() {
    dup_policy
    parents
    dup_sealed
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_Duplicate
    tpm tpm2_duplicate -C np.ctx -c obj.ctx -G null -p session:s.ctx -r dup.priv -s dup.seed
    tpm tpm2_flushcontext s.ctx
    tpm tpm2_import -C np.ctx -u obj.pub -i dup.priv -s dup.seed -r imported.priv
    tpm tpm2_load -C np.ctx -u obj.pub -r imported.priv -c imp.ctx
    tpm tpm2_unseal -c imp.ctx -o out.txt
    same_file out.txt secret.txt "secret after duplicate + import"
}

c_duplicate_import_aes_wrapper() {
    dup_policy
    parents
    dup_sealed
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_Duplicate
    tpm tpm2_duplicate -C np.ctx -c obj.ctx -G aes -o inner.key -p session:s.ctx -r dup.priv -s dup.seed
    tpm tpm2_flushcontext s.ctx
    size_is inner.key 16
    tpm tpm2_import -C np.ctx -u obj.pub -i dup.priv -s dup.seed -k inner.key -r imported.priv
    tpm tpm2_load -C np.ctx -u obj.pub -r imported.priv -c imp.ctx
    tpm tpm2_unseal -c imp.ctx -o out.txt
    same_file out.txt secret.txt "secret after duplicate + import with an inner wrapper"
}

c_duplicate_user_inner_key() {
    dup_policy
    parents
    dup_sealed
    head -c 16 /dev/urandom >my.key
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_Duplicate
    tpm tpm2_duplicate -C np.ctx -c obj.ctx -G aes -i my.key -p session:s.ctx -r dup.priv -s dup.seed
    tpm tpm2_flushcontext s.ctx
    tpm tpm2_import -C np.ctx -u obj.pub -i dup.priv -s dup.seed -k my.key -r imported.priv
    tpm tpm2_load -C np.ctx -u obj.pub -r imported.priv -c imp.ctx
    tpm tpm2_unseal -c imp.ctx -o out.txt
    same_file out.txt secret.txt "secret"
    # The wrong inner key does not import.
    head -c 16 /dev/urandom >bad.key
    expect_fail tpm2_import -C np.ctx -u obj.pub -i dup.priv -s dup.seed -k bad.key -r bad.priv
}

c_duplicate_import_wrong_parent() {
    dup_policy
    parents
    dup_sealed
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_Duplicate
    tpm tpm2_duplicate -C np.ctx -c obj.ctx -G null -p session:s.ctx -r dup.priv -s dup.seed
    tpm tpm2_flushcontext s.ctx
    # The seed is encrypted to np: the primary cannot import the blob.
    expect_fail tpm2_import -C primary.ctx -u obj.pub -i dup.priv -s dup.seed -r imported.priv
}

c_duplicate_fixedparent_refused() {
    dup_policy
    parents
    printf 'x' >secret.txt
    tpm tpm2_create -C primary.ctx -i secret.txt -L dup.policy -a "fixedtpm|fixedparent|userwithauth" -u obj.pub -r obj.priv
    tpm tpm2_load -C primary.ctx -u obj.pub -r obj.priv -c obj.ctx
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_Duplicate
    # TPM_RC_ATTRIBUTES on handle 1 (fixedParent).
    expect_rc 0x182 tpm2_duplicate -C np.ctx -c obj.ctx -G null -p session:s.ctx -r dup.priv -s dup.seed
    tpm2_flushcontext s.ctx 2>/dev/null || true
}

c_duplicate_needs_policy_session() {
    dup_policy
    parents
    dup_sealed
    # Duplication is an ADMIN action that only a policy session can authorize.
    expect_fail tpm2_duplicate -C np.ctx -c obj.ctx -G null -r dup.priv -s dup.seed
}

c_policyduplicationselect() {
    parents
    tpm tpm2_readpublic -c np.ctx -n np.name
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policyduplicationselect -S t.ctx -N np.name -L ds.policy
    tpm tpm2_flushcontext t.ctx
    # includeObject NO: H(0 || TPM_CC_PolicyDuplicationSelect || newParentName || 00)
    eq "$(hexof ds.policy)" "$(unhex "${ZERO}00000188$(hexof np.name)00" | sha256)" "PolicyDuplicationSelect digest"
    printf 'selected' >secret.txt
    tpm tpm2_create -C primary.ctx -i secret.txt -L ds.policy -a "userwithauth" -u obj.pub -r obj.priv
    tpm tpm2_load -C primary.ctx -u obj.pub -r obj.priv -n obj.name -c obj.ctx
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policyduplicationselect -S s.ctx -n obj.name -N np.name
    tpm tpm2_duplicate -C np.ctx -c obj.ctx -G null -p session:s.ctx -r dup.priv -s dup.seed
    tpm tpm2_flushcontext s.ctx
    tpm tpm2_import -C np.ctx -u obj.pub -i dup.priv -s dup.seed -r imported.priv
    tpm tpm2_load -C np.ctx -u obj.pub -r imported.priv -c imp.ctx
    tpm tpm2_unseal -c imp.ctx -o out.txt
    same_file out.txt secret.txt "secret"
}

c_import_rsa_pem() {
    primary
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ext.pem 2>/dev/null
    tpm tpm2_import -C primary.ctx -G rsa -i ext.pem -u k.pub -r k.priv
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -c k.ctx
    tpm tpm2_readpublic -c k.ctx -f pem -o back.pem
    eq "$(openssl pkey -pubin -in back.pem -outform der | sha256)" \
        "$(openssl pkey -in ext.pem -pubout -outform der | sha256)" "public part of the imported key"
}

c_import_ecc_pem() {
    primary
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ext.pem 2>/dev/null
    tpm tpm2_import -C primary.ctx -G ecc -i ext.pem -u k.pub -r k.priv
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -c k.ctx
    tpm tpm2_readpublic -c k.ctx -f pem -o back.pem
    eq "$(openssl pkey -pubin -in back.pem -outform der | sha256)" \
        "$(openssl pkey -in ext.pem -pubout -outform der | sha256)" "public part of the imported key"
}

c_import_aes_key() {
    primary
    head -c 16 /dev/urandom >aes.key
    tpm tpm2_import -C primary.ctx -G aes -i aes.key -u k.pub -r k.priv
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -c k.ctx
    head -c 32 /dev/urandom >pt.bin
    head -c 16 /dev/zero >iv.bin
    tpm tpm2_encryptdecrypt -c k.ctx -G cfb -t iv.bin -o ct.bin pt.bin
    openssl enc -aes-128-cfb -K "$(hexof aes.key)" -iv "$(hexof iv.bin)" -in pt.bin -out ref.bin
    same_file ct.bin ref.bin "AES-CFB with the imported key vs openssl"
}

c_import_hmac_key() {
    primary
    head -c 32 /dev/urandom >h.key
    tpm tpm2_import -C primary.ctx -G hmac -i h.key -u k.pub -r k.priv
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -c k.ctx
    printf 'imported hmac' >m.txt
    out=$(tpm tpm2_hmac -c k.ctx --hex m.txt)
    eq "$out" "$(openssl dgst -sha256 -mac HMAC -macopt hexkey:"$(hexof h.key)" -r m.txt | cut -d' ' -f1)" "HMAC with the imported key"
}

c_import_with_auth() {
    primary
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ext.pem 2>/dev/null
    tpm tpm2_import -C primary.ctx -G ecc -i ext.pem -p keypw -u k.pub -r k.priv
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -c k.ctx
    printf 'x' >m.txt
    tpm tpm2_sign -c k.ctx -p keypw -g sha256 -f plain -o sig.bin m.txt
    openssl pkey -in ext.pem -pubout -out ext.pub.pem
    openssl dgst -sha256 -verify ext.pub.pem -signature sig.bin m.txt >/dev/null || fail "openssl rejects the signature"
}

run_case duplicate_import_null_wrapper c_duplicate_import_null_wrapper
run_case duplicate_import_aes_wrapper c_duplicate_import_aes_wrapper
run_case duplicate_user_inner_key c_duplicate_user_inner_key
run_case duplicate_import_wrong_parent c_duplicate_import_wrong_parent
run_case duplicate_fixedparent_refused c_duplicate_fixedparent_refused
run_case duplicate_needs_policy_session c_duplicate_needs_policy_session
run_case policyduplicationselect c_policyduplicationselect
run_case import_rsa_pem c_import_rsa_pem
run_case import_ecc_pem c_import_ecc_pem
run_case import_aes_key c_import_aes_key
run_case import_hmac_key c_import_hmac_key
run_case import_with_auth c_import_with_auth
finish
