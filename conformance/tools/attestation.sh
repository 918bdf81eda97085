#!/bin/bash
# Attestation: tpm2_createek, tpm2_createak, tpm2_quote, tpm2_checkquote, tpm2_certify,
# tpm2_certifycreation, tpm2_gettime, tpm2_makecredential, tpm2_activatecredential.
# Signatures are verified with openssl, attestation structures decoded by hand.
. "$(dirname "$0")/lib.sh"
startup || exit 1

# ak [ALG]: an attestation key (restricted signing, under an owner primary) -> ak.ctx,
# ak.pem, ak.pub, ak.name.
ak() {
    primary
    local g=${1:-rsa2048:rsassa-sha256:null}
    tpm tpm2_create -C primary.ctx -G "$g" \
        -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign" -u ak.pub -r ak.priv -c ak.ctx
    tpm tpm2_readpublic -c ak.ctx -f pem -o ak.pem -n ak.name
}

# TPMS_ATTEST: magic (4) type (2) -> "ff544347TYPE"
attest_head() { head -c 6 "$1" | hexof /dev/stdin; }

verify() { # verify PEM SIG DATA [hash]
    openssl dgst -"${4:-sha256}" -verify "$1" -signature "$2" "$3" >/dev/null || fail "openssl rejects the signature over $3"
}

c_quote_checkquote() {
    ak
    tpm tpm2_pcrextend 16:sha256="$(printf q | sha256)"
    tpm tpm2_quote -c ak.ctx -l sha256:0,1,16 -q 1122334455 -m quote.msg -s quote.sig -o quote.pcrs -g sha256
    tpm tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f quote.pcrs -g sha256 -q 1122334455
    eq "$(attest_head quote.msg)" ff5443478018 "TPMS_ATTEST magic and TPM_ST_ATTEST_QUOTE"
}

c_quote_openssl() {
    ak
    tpm tpm2_quote -c ak.ctx -l sha256:0 -q abcd -m quote.msg -s quote.sig -f plain -g sha256
    verify ak.pem quote.sig quote.msg
    # The quote's PCR digest (last 32 bytes) is H(PCR 0).
    tpm tpm2_pcrread sha256:0 -o pcr0.bin
    eq "$(tail -c 32 quote.msg | hexof /dev/stdin)" "$(sha256 pcr0.bin)" "pcrDigest in the quote"
    # extraData (the nonce) follows the qualified signer name.
    match "$(hexof quote.msg)" "0002abcd" "qualifying data in the quote"
}

c_quote_ecc() {
    ak ecc256:ecdsa-sha256:null
    tpm tpm2_quote -c ak.ctx -l sha256:0,7 -q 00ff -m quote.msg -s quote.sig -o quote.pcrs -g sha256
    tpm tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f quote.pcrs -g sha256 -q 00ff
}

c_checkquote_wrong_nonce() {
    ak
    tpm tpm2_quote -c ak.ctx -l sha256:0 -q 1111 -m quote.msg -s quote.sig -o quote.pcrs -g sha256
    expect_fail tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f quote.pcrs -g sha256 -q 2222
}

c_checkquote_tampered_pcrs() {
    ak
    tpm tpm2_pcrextend 16:sha256="$(printf tamper | sha256)"
    tpm tpm2_quote -c ak.ctx -l sha256:16 -q 1111 -m quote.msg -s quote.sig -o quote.pcrs -g sha256
    # Change the first byte of the PCR 16 value inside the tool's PCR file.
    tpm tpm2_pcrread sha256:16 -o v.bin
    v=$(hexof v.bin)
    h=$(hexof quote.pcrs)
    prefix=${h%%"$v"*}
    [ "$prefix" != "$h" ] || fail "PCR 16 value not found in the PCR file"
    unhex "$([ "${v:0:2}" = 00 ] && echo 01 || echo 00)" |
        dd of=quote.pcrs bs=1 seek=$((${#prefix} / 2)) conv=notrunc status=none
    [ "$(hexof quote.pcrs)" != "$h" ] || fail "PCR file unchanged"
    expect_fail tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f quote.pcrs -g sha256 -q 1111
}

c_quote_with_non_restricted_refused() {
    primary
    tpm tpm2_create -C primary.ctx -G ecc256:ecdsa-sha256 \
        -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign" -u k.pub -r k.priv -c k.ctx
    # A quote is signed by any signing key; the resulting structure carries its Name.
    tpm tpm2_quote -c k.ctx -l sha256:0 -m quote.msg -s quote.sig -g sha256
    eq "$(attest_head quote.msg)" ff5443478018 "quote header"
    # A decryption key cannot sign.
    tpm tpm2_create -C primary.ctx -G rsa2048 -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt" \
        -u d.pub -r d.priv -c d.ctx
    expect_rc 0x19c tpm2_quote -c d.ctx -l sha256:0 -m q2.msg -s q2.sig -g sha256
}

c_certify() {
    ak
    tpm tpm2_create -C primary.ctx -G ecc256 -u k.pub -r k.priv -c k.ctx
    tpm tpm2_readpublic -c k.ctx -n k.name
    tpm tpm2_certify -c k.ctx -C ak.ctx -g sha256 -o att.bin -s sig.bin -f plain
    verify ak.pem sig.bin att.bin
    eq "$(attest_head att.bin)" ff5443478017 "TPM_ST_ATTEST_CERTIFY"
    # TPMS_CERTIFY_INFO: name then qualifiedName, at the end.
    match "$(hexof att.bin)" "0022$(hexof k.name)0022" "certified Name"
}

c_certify_ak_self() {
    ak
    tpm tpm2_certify -c ak.ctx -C ak.ctx -g sha256 -o att.bin -s sig.bin -f plain
    verify ak.pem sig.bin att.bin
}

c_certifycreation() {
    ak
    # (tpm2_create -c uses CreateLoaded, which returns no creation data: Create, then Load)
    tpm tpm2_create -C primary.ctx -G ecc256 -u k.pub -r k.priv -d k.hash -t k.ticket
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -c k.ctx
    tpm tpm2_certifycreation -C ak.ctx -c k.ctx -d k.hash -t k.ticket -g sha256 -f plain -s rsassa \
        -o sig.bin --attestation att.bin
    verify ak.pem sig.bin att.bin
    eq "$(attest_head att.bin)" ff544347801a "TPM_ST_ATTEST_CREATION"
    # TPMS_CREATION_INFO ends with the creation hash.
    eq "$(tail -c 34 att.bin | hexof /dev/stdin)" "$(hexof k.hash)" "creation hash in the attestation"
}

c_certifycreation_wrong_ticket() {
    ak
    tpm tpm2_create -C primary.ctx -G ecc256 -u a.pub -r a.priv -d a.hash -t a.ticket
    tpm tpm2_load -C primary.ctx -u a.pub -r a.priv -c a.ctx
    tpm tpm2_create -C primary.ctx -G ecc256 -u b.pub -r b.priv -d b.hash -t b.ticket
    # b's ticket does not vouch for a's creation hash: TPM_RC_TICKET.
    expect_rc 0x4e0 tpm2_certifycreation -C ak.ctx -c a.ctx -d a.hash -t b.ticket -g sha256 -f plain -s rsassa \
        -o sig.bin --attestation att.bin
}

c_certifycreation_primary() {
    ak
    tpm tpm2_createprimary -C o -G ecc256 -c p2.ctx -d p2.hash -t p2.ticket
    tpm tpm2_certifycreation -C ak.ctx -c p2.ctx -d p2.hash -t p2.ticket -g sha256 -f plain -s rsassa \
        -o sig.bin --attestation att.bin
    verify ak.pem sig.bin att.bin
}

c_gettime() {
    ak
    tpm tpm2_gettime -c ak.ctx -q cafe -o sig.bin --attestation att.bin -f plain
    verify ak.pem sig.bin att.bin
    eq "$(attest_head att.bin)" ff5443478019 "TPM_ST_ATTEST_TIME"
    match "$(hexof att.bin)" "0002cafe" "qualifying data"
}

c_gettime_advances() {
    ak
    tpm tpm2_gettime -c ak.ctx -o s1.bin --attestation a1.bin
    sleep 1
    tpm tpm2_gettime -c ak.ctx -o s2.bin --attestation a2.bin
    # TPMS_TIME_ATTEST_INFO: time (8), clockInfo, firmwareVersion (8) at the end.
    h1=$(hexof a1.bin)
    h2=$(hexof a2.bin)
    t1=$((0x${h1: -66:16}))
    t2=$((0x${h2: -66:16}))
    [ "$t2" -ge $((t1 + 900)) ] || fail "time went from $t1 to $t2 ms over a second"
}

c_createek_deterministic() {
    tpm tpm2_createek -c ek1.ctx -G rsa -u ek1.pub
    tpm tpm2_createek -c ek2.ctx -G rsa -u ek2.pub
    same_file ek1.pub ek2.pub "EK public key"
    tpm tpm2_createek -c ek3.ctx -G ecc -u ek3.pub
    out=$(tpm tpm2_readpublic -c ek3.ctx)
    eq "$(ysub "$out" type value)" ecc "ECC EK type"
    # The EK policy is PolicySecret(endorsement).
    eq "$(yaml "$out" "authorization policy")" 837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa "EK authPolicy"
}

c_createak() {
    tpm tpm2_createek -c ek.ctx -G rsa -u ek.pub
    tpm tpm2_createak -C ek.ctx -c ak.ctx -G rsa -g sha256 -s rsassa -u ak.pub -n ak.name -r ak.priv
    size_is ak.name 34
    out=$(tpm tpm2_readpublic -c ak.ctx)
    match "$(ysub "$out" attributes value)" 'restricted' "AK attributes"
    match "$(ysub "$out" attributes value)" 'sign' "AK attributes"
}

c_makecredential_activate() {
    tpm tpm2_createek -c ek.ctx -G rsa -u ek.pub
    tpm tpm2_createak -C ek.ctx -c ak.ctx -G rsa -g sha256 -s rsassa -u ak.pub -n ak.name -r ak.priv
    printf 'the credential' >secret.txt
    tpm tpm2_makecredential -u ek.pub -s secret.txt -n "$(hexof ak.name)" -o cred.bin
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policysecret -S s.ctx -c e
    tpm tpm2_activatecredential -c ak.ctx -C ek.ctx -i cred.bin -o out.txt -P session:s.ctx
    tpm tpm2_flushcontext s.ctx
    same_file out.txt secret.txt "activated credential"
}

c_makecredential_offline() {
    # -T none: the credential is made without a TPM (by the tool, with openssl).
    tpm tpm2_createek -c ek.ctx -G rsa -u ek.pub
    tpm tpm2_createak -C ek.ctx -c ak.ctx -G rsa -g sha256 -s rsassa -u ak.pub -n ak.name -r ak.priv
    printf 'offline credential' >secret.txt
    TPM2TOOLS_TCTI=none tpm tpm2_makecredential -T none -u ek.pub -s secret.txt -n "$(hexof ak.name)" -o cred.bin
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policysecret -S s.ctx -c e
    tpm tpm2_activatecredential -c ak.ctx -C ek.ctx -i cred.bin -o out.txt -P session:s.ctx
    tpm tpm2_flushcontext s.ctx
    same_file out.txt secret.txt "activated credential"
}

c_activate_wrong_name() {
    tpm tpm2_createek -c ek.ctx -G rsa -u ek.pub
    tpm tpm2_createak -C ek.ctx -c ak.ctx -G rsa -g sha256 -s rsassa -u ak.pub -n ak.name -r ak.priv
    printf 'x' >secret.txt
    # A credential for another Name does not activate with this AK.
    other=000b$(printf other | sha256)
    tpm tpm2_makecredential -u ek.pub -s secret.txt -n "$other" -o cred.bin
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policysecret -S s.ctx -c e
    expect_fail tpm2_activatecredential -c ak.ctx -C ek.ctx -i cred.bin -o out.txt -P session:s.ctx
    tpm2_flushcontext s.ctx 2>/dev/null || true
}

c_makecredential_ecc_ek() {
    tpm tpm2_createek -c ek.ctx -G ecc -u ek.pub
    tpm tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub -n ak.name -r ak.priv
    printf 'ecc credential' >secret.txt
    tpm tpm2_makecredential -u ek.pub -s secret.txt -n "$(hexof ak.name)" -o cred.bin
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policysecret -S s.ctx -c e
    tpm tpm2_activatecredential -c ak.ctx -C ek.ctx -i cred.bin -o out.txt -P session:s.ctx
    tpm tpm2_flushcontext s.ctx
    same_file out.txt secret.txt "activated credential"
}

run_case quote_checkquote c_quote_checkquote
run_case quote_openssl c_quote_openssl
run_case quote_ecc c_quote_ecc
run_case checkquote_wrong_nonce c_checkquote_wrong_nonce
run_case checkquote_tampered_pcrs c_checkquote_tampered_pcrs
run_case quote_key_types c_quote_with_non_restricted_refused
run_case certify c_certify
run_case certify_ak_self c_certify_ak_self
run_case certifycreation c_certifycreation
run_case certifycreation_wrong_ticket c_certifycreation_wrong_ticket
run_case certifycreation_primary c_certifycreation_primary
run_case gettime c_gettime
run_case gettime_advances c_gettime_advances
run_case createek_deterministic c_createek_deterministic
run_case createak c_createak
run_case makecredential_activate c_makecredential_activate
run_case makecredential_offline c_makecredential_offline
run_case activate_wrong_name c_activate_wrong_name
run_case makecredential_ecc_ek c_makecredential_ecc_ek
finish
