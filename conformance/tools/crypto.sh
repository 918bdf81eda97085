#!/bin/bash
# Cryptography: tpm2_sign, tpm2_verifysignature, tpm2_rsaencrypt, tpm2_rsadecrypt,
# tpm2_encryptdecrypt, tpm2_hash, tpm2_hmac, tpm2_ecdhkeygen, tpm2_ecdhzgen, tpm2_commit,
# tpm2_ecephemeral, tpm2_zgen2phase, tpm2_geteccparameters. Results are checked with openssl.
. "$(dirname "$0")/lib.sh"
startup || exit 1

SIGN_ATTRS="fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign"
DEC_ATTRS="fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt"

# key ALG [ATTRS]: an ordinary key under an RSA primary -> k.ctx, k.pem (public, PEM).
key() {
    primary
    tpm tpm2_create -C primary.ctx -G "$1" -a "${2:-$SIGN_ATTRS}" -u k.pub -r k.priv -c k.ctx
    tpm tpm2_readpublic -c k.ctx -f pem -o k.pem
}

# An ECC point file (TPM2B_ECC_POINT) from an openssl P-256 public key in $1 -> $2.
ecc_point_from_pem() {
    local hex
    hex=$(openssl pkey -pubin -in "$1" -noout -text | sed -n '/^pub:/,/^ASN1/p' | grep -v -e pub: -e ASN1 | tr -d ' :\n')
    # 04 || x || y
    unhex "0044""0020${hex:2:64}""0020${hex:66:64}" >"$2"
}

c_sign_rsassa() {
    key rsa2048:rsassa-sha256
    printf 'message to sign' >msg.txt
    tpm tpm2_sign -c k.ctx -g sha256 -f plain -o sig.bin msg.txt
    size_is sig.bin 256
    openssl dgst -sha256 -verify k.pem -signature sig.bin msg.txt >/dev/null || fail "openssl rejects the RSASSA signature"
    # RSASSA is deterministic.
    tpm tpm2_sign -c k.ctx -g sha256 -f plain -o sig2.bin msg.txt
    same_file sig.bin sig2.bin "two RSASSA signatures"
}

c_sign_rsassa_sha384() {
    key rsa2048:rsassa-sha384
    printf 'sha384' >msg.txt
    tpm tpm2_sign -c k.ctx -g sha384 -f plain -o sig.bin msg.txt
    openssl dgst -sha384 -verify k.pem -signature sig.bin msg.txt >/dev/null || fail "openssl rejects the signature"
}

c_sign_rsapss() {
    key rsa2048:rsapss-sha256:null
    printf 'pss message' >msg.txt
    tpm tpm2_sign -c k.ctx -g sha256 -s rsapss -f plain -o sig.bin msg.txt
    openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:auto \
        -verify k.pem -signature sig.bin msg.txt >/dev/null || fail "openssl rejects the RSA-PSS signature"
}

c_sign_ecdsa_p256() {
    key ecc256:ecdsa-sha256
    printf 'ecdsa message' >msg.txt
    tpm tpm2_sign -c k.ctx -g sha256 -f plain -o sig.bin msg.txt
    openssl dgst -sha256 -verify k.pem -signature sig.bin msg.txt >/dev/null || fail "openssl rejects the ECDSA signature"
}

c_sign_ecdsa_p384() {
    key ecc384:ecdsa-sha384
    printf 'ecdsa p384' >msg.txt
    tpm tpm2_sign -c k.ctx -g sha384 -f plain -o sig.bin msg.txt
    openssl dgst -sha384 -verify k.pem -signature sig.bin msg.txt >/dev/null || fail "openssl rejects the ECDSA signature"
}

c_sign_digest() {
    key ecc256:ecdsa-sha256
    printf 'pre-hashed' >msg.txt
    openssl dgst -sha256 -binary msg.txt >digest.bin
    tpm tpm2_sign -c k.ctx -g sha256 -d -f plain -o sig.bin digest.bin
    openssl dgst -sha256 -verify k.pem -signature sig.bin msg.txt >/dev/null || fail "openssl rejects the signature of a digest"
}

c_sign_password_key() {
    primary
    tpm tpm2_create -C primary.ctx -G ecc256:ecdsa-sha256 -a "$SIGN_ATTRS" -p kpw -u k.pub -r k.priv -c k.ctx
    printf 'x' >msg.txt
    tpm tpm2_sign -c k.ctx -p kpw -g sha256 -o sig.tss msg.txt
    expect_rc 0x98e tpm2_sign -c k.ctx -p bad -g sha256 -o sig2.tss msg.txt
    da_reset
}

c_verifysignature_tpm() {
    key rsa2048:rsassa-sha256
    printf 'verify me' >msg.txt
    tpm tpm2_sign -c k.ctx -g sha256 -o sig.tss msg.txt
    tpm tpm2_verifysignature -c k.ctx -g sha256 -m msg.txt -s sig.tss -t ticket.bin
    [ -s ticket.bin ] || fail "no verification ticket"
    printf 'verify mE' >bad.txt
    expect_rc 0x2db tpm2_verifysignature -c k.ctx -g sha256 -m bad.txt -s sig.tss -t t2.bin
}

c_verifysignature_openssl() {
    # An openssl signature verified by the TPM with a loaded external public key.
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ext.pem 2>/dev/null
    openssl pkey -in ext.pem -pubout -out ext.pub.pem
    printf 'signed by openssl' >msg.txt
    openssl dgst -sha256 -sign ext.pem -out sig.der msg.txt
    tpm tpm2_loadexternal -C o -G ecc -u ext.pub.pem -c ext.ctx
    tpm tpm2_verifysignature -c ext.ctx -g sha256 -m msg.txt -s sig.der -f ecdsa -t ticket.bin
}

c_sign_restricted_needs_ticket() {
    primary
    tpm tpm2_create -C primary.ctx -G rsa2048:rsassa-sha256:null -a "$SIGN_ATTRS|restricted" -u k.pub -r k.priv -c k.ctx
    printf 'external data' >msg.txt
    # tpm2_hash over data not starting with TPM_GENERATED_VALUE gives a real ticket.
    tpm tpm2_hash -C o -g sha256 -o d.bin -t t.bin msg.txt
    tpm tpm2_sign -c k.ctx -g sha256 -d -t t.bin -f plain -o sig.bin d.bin
    tpm tpm2_readpublic -c k.ctx -f pem -o k.pem
    openssl dgst -sha256 -verify k.pem -signature sig.bin msg.txt >/dev/null || fail "openssl rejects the signature"
    # Data that looks like a TPM attestation gets no ticket: signing is refused.
    { unhex ff544347; printf 'forged'; } >forged.bin
    tpm tpm2_hash -C o -g sha256 -o fd.bin -t ft.bin forged.bin
    expect_fail tpm2_sign -c k.ctx -g sha256 -d -t ft.bin -o fsig.bin fd.bin
}

c_sign_with_decrypt_key_refused() {
    key rsa2048 "$DEC_ATTRS"
    printf 'x' >msg.txt
    # TPM_RC_KEY on handle 1: not a signing key.
    expect_rc 0x19c tpm2_sign -c k.ctx -g sha256 -o sig.bin msg.txt
}

c_rsa_oaep_openssl_to_tpm() {
    key rsa2048:oaep-sha256 "$DEC_ATTRS"
    printf 'secret for the TPM' >pt.txt
    openssl pkeyutl -encrypt -pubin -inkey k.pem -pkeyopt rsa_padding_mode:oaep \
        -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in pt.txt -out ct.bin
    tpm tpm2_rsadecrypt -c k.ctx -s oaep -o out.txt ct.bin
    same_file out.txt pt.txt "OAEP decryption of an openssl ciphertext"
}

c_rsa_oaep_roundtrip() {
    key rsa2048 "$DEC_ATTRS"
    head -c 100 /dev/urandom >pt.bin
    tpm tpm2_rsaencrypt -c k.ctx -s oaep -o ct.bin pt.bin
    size_is ct.bin 256
    tpm tpm2_rsadecrypt -c k.ctx -s oaep -o out.bin ct.bin
    same_file out.bin pt.bin "OAEP round trip"
    tpm tpm2_rsaencrypt -c k.ctx -s oaep -o ct2.bin pt.bin
    differ ct.bin ct2.bin "two OAEP ciphertexts"
}

c_rsa_oaep_label() {
    key rsa2048 "$DEC_ATTRS"
    printf 'labelled' >pt.txt
    tpm tpm2_rsaencrypt -c k.ctx -s oaep -l mylabel -o ct.bin pt.txt
    tpm tpm2_rsadecrypt -c k.ctx -s oaep -l mylabel -o out.txt ct.bin
    same_file out.txt pt.txt "OAEP with a label"
    expect_fail tpm2_rsadecrypt -c k.ctx -s oaep -l other -o bad.txt ct.bin
}

c_rsa_pkcs1_openssl_to_tpm() {
    key rsa2048 "$DEC_ATTRS"
    printf 'pkcs1 v1.5' >pt.txt
    openssl pkeyutl -encrypt -pubin -inkey k.pem -pkeyopt rsa_padding_mode:pkcs1 -in pt.txt -out ct.bin
    tpm tpm2_rsadecrypt -c k.ctx -s rsaes -o out.txt ct.bin
    same_file out.txt pt.txt "RSAES-PKCS1-v1_5 decryption"
}

c_rsa_decrypt_garbage() {
    key rsa2048 "$DEC_ATTRS"
    head -c 256 /dev/urandom >ct.bin
    # Most likely not a valid OAEP block (TPM_RC_VALUE) or not below the modulus.
    expect_fail tpm2_rsadecrypt -c k.ctx -s oaep -o out.bin ct.bin
}

# aes_key MODE: a known AES-128 key loaded in the NULL hierarchy -> aes.ctx, aes.key (hex $K).
aes_key() {
    head -c 16 /dev/urandom >aes.key
    K=$(hexof aes.key)
    tpm tpm2_loadexternal -C n -G "aes128$1" -r aes.key -c aes.ctx
}

c_encryptdecrypt_cfb_openssl() {
    aes_key cfb
    head -c 100 /dev/urandom >pt.bin
    head -c 16 /dev/urandom >iv.bin
    tpm tpm2_encryptdecrypt -c aes.ctx -G cfb -t iv.bin -o ct.bin pt.bin
    openssl enc -aes-128-cfb -K "$K" -iv "$(hexof iv.bin)" -in pt.bin -out ref.bin
    same_file ct.bin ref.bin "AES-128-CFB vs openssl"
    tpm tpm2_encryptdecrypt -d -c aes.ctx -G cfb -t iv.bin -o back.bin ct.bin
    same_file back.bin pt.bin "decrypted"
}

c_encryptdecrypt_modes_openssl() {
    head -c 64 /dev/urandom >pt.bin
    head -c 16 /dev/urandom >iv.bin
    for m in cbc ctr ofb ecb; do
        aes_key $m
        ivarg="-t iv.bin"
        [ $m = ecb ] && ivarg=""
        tpm tpm2_encryptdecrypt -c aes.ctx -G $m $ivarg -o ct.$m pt.bin
        if [ $m = ecb ]; then
            openssl enc -aes-128-ecb -nopad -K "$K" -in pt.bin -out ref.$m
        else
            openssl enc -aes-128-$m -nopad -K "$K" -iv "$(hexof iv.bin)" -in pt.bin -out ref.$m
        fi
        same_file ct.$m ref.$m "AES-128-$m vs openssl"
        tpm tpm2_encryptdecrypt -d -c aes.ctx -G $m $ivarg -o back.$m ct.$m
        same_file back.$m pt.bin "AES-128-$m decrypted"
    done
}

c_encryptdecrypt_cbc_pad() {
    aes_key cbc
    printf 'thirteen byte' >pt.bin
    head -c 16 /dev/urandom >iv.bin
    tpm tpm2_encryptdecrypt -c aes.ctx -G cbc -e -t iv.bin -o ct.bin pt.bin
    openssl enc -aes-128-cbc -K "$K" -iv "$(hexof iv.bin)" -in pt.bin -out ref.bin
    same_file ct.bin ref.bin "AES-128-CBC with PKCS#7 padding vs openssl"
}

c_encryptdecrypt_tpm_key() {
    primary
    tpm tpm2_create -C primary.ctx -G aes256cfb -u a.pub -r a.priv -c a.ctx
    head -c 3000 /dev/urandom >pt.bin
    tpm tpm2_encryptdecrypt -c a.ctx -o ct.bin pt.bin
    size_is ct.bin 3000
    tpm tpm2_encryptdecrypt -d -c a.ctx -o back.bin ct.bin
    same_file back.bin pt.bin "3000 bytes through AES-256-CFB"
}

c_hash_algorithms() {
    head -c 500 /dev/urandom >data.bin
    for g in sha1 sha256 sha384 sha512; do
        tpm tpm2_hash -g $g -o d.$g data.bin
        eq "$(hexof d.$g)" "$(openssl dgst -$g -r data.bin | cut -d' ' -f1)" "$g"
    done
    out=$(tpm tpm2_hash -g sha256 --hex data.bin)
    eq "$out" "$(sha256 data.bin)" "--hex output"
}

c_hash_large() {
    # Over 1024 bytes: HashSequenceStart / SequenceUpdate / SequenceComplete.
    head -c 10000 /dev/urandom >data.bin
    tpm tpm2_hash -g sha256 -o d.bin -t t.bin data.bin
    eq "$(hexof d.bin)" "$(sha256 data.bin)" "sha256 of 10000 bytes"
}

c_hash_ticket() {
    printf 'ticket' >data.bin
    tpm tpm2_hash -C o -g sha256 -o d.bin -t t.bin data.bin
    # TPMT_TK_HASHCHECK: tag TPM_ST_HASHCHECK (0x8024), hierarchy owner, a sha256 HMAC.
    eq "$(head -c 6 t.bin | hexof /dev/stdin)" 802440000001 "ticket header"
    # The HMAC size is the TPM's choice (its context integrity hash).
    n=$(stat -c %s t.bin)
    [ "$n" -ge 28 ] || fail "ticket of $n bytes"
    tpm tpm2_hash -C n -g sha256 -o d2.bin -t t2.bin data.bin
    eq "$(head -c 6 t2.bin | hexof /dev/stdin)" 802440000007 "NULL-hierarchy ticket header"
}

c_hmac_openssl() {
    head -c 32 /dev/urandom >h.key
    tpm tpm2_loadexternal -C n -G hmac -a "sign|userwithauth" -r h.key -c h.ctx
    printf 'hmac me' >msg.txt
    out=$(tpm tpm2_hmac -c h.ctx --hex msg.txt)
    eq "$out" "$(openssl dgst -sha256 -mac HMAC -macopt hexkey:"$(hexof h.key)" -r msg.txt | cut -d' ' -f1)" "HMAC-SHA256"
}

c_hmac_large() {
    head -c 32 /dev/urandom >h.key
    tpm tpm2_loadexternal -C n -G hmac -a "sign|userwithauth" -r h.key -c h.ctx
    head -c 5000 /dev/urandom >msg.bin
    tpm tpm2_hmac -c h.ctx -o mac.bin msg.bin
    eq "$(hexof mac.bin)" "$(openssl dgst -sha256 -mac HMAC -macopt hexkey:"$(hexof h.key)" -r msg.bin | cut -d' ' -f1)" "HMAC-SHA256 of 5000 bytes"
}

c_hmac_tpm_key() {
    primary
    tpm tpm2_create -C primary.ctx -G hmac -u h.pub -r h.priv -c h.ctx
    printf 'a' >a.txt
    printf 'b' >b.txt
    tpm tpm2_hmac -c h.ctx -o a1.bin a.txt
    tpm tpm2_hmac -c h.ctx -o a2.bin a.txt
    tpm tpm2_hmac -c h.ctx -o b.bin b.txt
    same_file a1.bin a2.bin "HMAC of the same data"
    differ a1.bin b.bin "HMAC of other data"
    size_is a1.bin 32
}

c_ecdh_keygen_zgen() {
    key ecc256:ecdh "$DEC_ATTRS"
    tpm tpm2_ecdhkeygen -c k.ctx -u q.bin -o z1.bin
    tpm tpm2_ecdhzgen -c k.ctx -u q.bin -o z2.bin
    same_file z1.bin z2.bin "Z from KeyGen and from ZGen"
}

c_ecdh_zgen_openssl() {
    key ecc256:ecdh "$DEC_ATTRS"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out peer.pem 2>/dev/null
    openssl pkey -in peer.pem -pubout -out peer.pub.pem
    ecc_point_from_pem peer.pub.pem peer.point
    tpm tpm2_ecdhzgen -c k.ctx -u peer.point -o z.bin
    openssl pkeyutl -derive -inkey peer.pem -peerkey k.pem -out ref.bin
    # Z is a point; the shared secret is its x coordinate.
    eq "$(head -c 36 z.bin | tail -c 32 | hexof /dev/stdin)" "$(hexof ref.bin)" "ECDH shared secret vs openssl"
}

c_ecdh_point_not_on_curve() {
    key ecc256:ecdh "$DEC_ATTRS"
    unhex "0044""0020$(printf '%064d' 1)""0020$(printf '%064d' 2)" >bad.point
    expect_rc 0x1e7 tpm2_ecdhzgen -c k.ctx -u bad.point -o z.bin
}

c_ecephemeral_commit_counters() {
    tpm tpm2_ecephemeral -u q1.bin -t c1.bin ecc256
    tpm tpm2_ecephemeral -u q2.bin -t c2.bin ecc256
    differ q1.bin q2.bin "two ephemeral points"
    eq "$((0x$(hexof c2.bin)))" "$((0x$(hexof c1.bin) + 1))" "commit counter"
}

c_commit_sign_ecdaa() {
    key ecc256:ecdaa
    tpm tpm2_commit -c k.ctx -t cnt.bin --eccpoint-K K.bin --eccpoint-L L.bin -u E.bin
    [ -s E.bin ] || fail "no E point"
    printf 'ecdaa' >msg.txt
    tpm tpm2_sign -c k.ctx -g sha256 -s ecdaa --commit-index "$((0x$(hexof cnt.bin)))" -o sig.tss msg.txt
    [ -s sig.tss ] || fail "no signature"
}

c_zgen2phase() {
    key ecc256:ecdh "$DEC_ATTRS"
    tpm tpm2_ecephemeral -u eph.q -t eph.ctr ecc256
    tpm tpm2_ecdhkeygen -c k.ctx -u static.q -o unused.z
    tpm tpm2_zgen2phase -c k.ctx --static-public static.q --ephemeral-public eph.q \
        -t "$((0x$(hexof eph.ctr)))" --output-Z1 z1.bin --output-Z2 z2.bin
    [ -s z1.bin ] && [ -s z2.bin ] || fail "no Z1/Z2"
}

c_geteccparameters() {
    tpm tpm2_geteccparameters ecc256 -o p256.bin
    h=$(hexof p256.bin)
    eq "${h:0:8}" 00030100 "curveID (NIST P-256) and key size"
    # Skip the kdf and sign schemes (each: alg, then a hash unless TPM_ALG_NULL).
    o=8
    for _ in kdf sign; do
        if [ "${h:o:4}" = 0010 ]; then o=$((o + 4)); else o=$((o + 8)); fi
    done
    eq "${h:o:4}" 0020 "size of p"
    eq "${h:o+4:64}" ffffffff00000001000000000000000000000000ffffffffffffffffffffffff "P-256 prime"
}

run_case sign_rsassa c_sign_rsassa
run_case sign_rsassa_sha384 c_sign_rsassa_sha384
run_case sign_rsapss c_sign_rsapss
run_case sign_ecdsa_p256 c_sign_ecdsa_p256
run_case sign_ecdsa_p384 c_sign_ecdsa_p384
run_case sign_digest c_sign_digest
run_case sign_password_key c_sign_password_key
run_case verifysignature_tpm c_verifysignature_tpm
run_case verifysignature_openssl c_verifysignature_openssl
run_case sign_restricted_needs_ticket c_sign_restricted_needs_ticket
run_case sign_with_decrypt_key_refused c_sign_with_decrypt_key_refused
run_case rsa_oaep_openssl_to_tpm c_rsa_oaep_openssl_to_tpm
run_case rsa_oaep_roundtrip c_rsa_oaep_roundtrip
run_case rsa_oaep_label c_rsa_oaep_label
run_case rsa_pkcs1_openssl_to_tpm c_rsa_pkcs1_openssl_to_tpm
run_case rsa_decrypt_garbage c_rsa_decrypt_garbage
run_case encryptdecrypt_cfb_openssl c_encryptdecrypt_cfb_openssl
run_case encryptdecrypt_modes_openssl c_encryptdecrypt_modes_openssl
run_case encryptdecrypt_cbc_pad c_encryptdecrypt_cbc_pad
run_case encryptdecrypt_tpm_key c_encryptdecrypt_tpm_key
run_case hash_algorithms c_hash_algorithms
run_case hash_large c_hash_large
run_case hash_ticket c_hash_ticket
run_case hmac_openssl c_hmac_openssl
run_case hmac_large c_hmac_large
run_case hmac_tpm_key c_hmac_tpm_key
run_case ecdh_keygen_zgen c_ecdh_keygen_zgen
run_case ecdh_zgen_openssl c_ecdh_zgen_openssl
run_case ecdh_point_not_on_curve c_ecdh_point_not_on_curve
run_case ecephemeral_commit_counters c_ecephemeral_commit_counters
run_case commit_sign_ecdaa c_commit_sign_ecdaa
run_case zgen2phase c_zgen2phase
run_case geteccparameters c_geteccparameters
finish
