#!/bin/bash
# Objects: tpm2_createprimary, tpm2_create (Create and CreateLoaded), tpm2_load,
# tpm2_readpublic, tpm2_loadexternal, tpm2_flushcontext, tpm2_evictcontrol, tpm2_unseal,
# tpm2_changeauth (objects). Names and public keys are checked with openssl.
. "$(dirname "$0")/lib.sh"
startup || exit 1

# The Name of a TPM2B_PUBLIC file: nameAlg (sha256) || SHA-256(TPMT_PUBLIC).
name_of() { echo "000b$(tail -c +3 "$1" | sha256)"; }

# Count of loaded transient objects.
transients() { tpm2_getcap handles-transient | grep -c '^- ' || true; }

c_primary_rsa_default() {
    out=$(tpm tpm2_createprimary -C o -c p.ctx)
    eq "$(ysub "$out" type value)" rsa "type"
    eq "$(yaml "$out" bits)" 2048 "bits"
    eq "$(ysub "$out" attributes value)" "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt" "attributes"
    eq "$(ysub "$out" sym-alg value)" aes "symmetric algorithm"
    tpm tpm2_readpublic -c p.ctx -o p.pub -n p.name
    eq "$(hexof p.name)" "$(name_of p.pub)" "Name = nameAlg || H(public area)"
    tpm tpm2_readpublic -c p.ctx -f pem -o p.pem
    mod=$(openssl rsa -pubin -in p.pem -noout -modulus | sed 's/Modulus=//' | tr A-F a-f)
    eq "$mod" "$(yaml "$out" rsa)" "modulus in PEM vs tool output"
}

c_primary_deterministic() {
    tpm tpm2_createprimary -C o -g sha256 -G rsa2048 -c a.ctx
    tpm tpm2_readpublic -c a.ctx -o a.pub
    tpm tpm2_createprimary -C o -g sha256 -G rsa2048 -c b.ctx
    tpm tpm2_readpublic -c b.ctx -o b.pub
    same_file a.pub b.pub "the same template twice"
    # Different unique data: a different key.
    # (-u: a TPM2B with a little-endian size, as tpm2-tools reads it)
    printf '\x05\x00other' >u.bin
    tpm tpm2_createprimary -C o -g sha256 -G rsa2048 -u u.bin -c c.ctx
    tpm tpm2_readpublic -c c.ctx -o c.pub
    differ a.pub c.pub "other unique data"
}

c_primary_ecc() {
    for g in ecc256 ecc384 ecc521; do
        out=$(tpm tpm2_createprimary -C o -G $g -c $g.ctx)
        tpm tpm2_readpublic -c $g.ctx -f pem -o $g.pem
        x=$(yaml "$out" x)
        y=$(yaml "$out" y)
        point=$(openssl pkey -pubin -in $g.pem -noout -text | sed -n '/^pub:/,/^ASN1/p' | grep -v -e pub: -e ASN1 | tr -d ' :\n')
        eq "$point" "04$x$y" "$g public point in PEM"
    done
}

c_primary_every_hierarchy() {
    for h in o e p n; do
        tpm tpm2_createprimary -C $h -G ecc256 -c $h.ctx
        tpm tpm2_readpublic -c $h.ctx -o $h.pub
    done
    differ o.pub e.pub "owner vs endorsement primary"
    differ o.pub p.pub "owner vs platform primary"
    differ o.pub n.pub "owner vs null primary"
}

c_primary_sizes() {
    for g in rsa1024 rsa3072 ecc384 aes128 aes256; do
        out=$(tpm tpm2_createprimary -C o -G $g -c k.ctx)
        match "$out" '^name-alg:' "$g primary"
    done
}

c_primary_rsa4096() {
    [ "$TPM_PEER" = swtpm ] && skip "libtpms 0.9 has no RSA-4096"
    out=$(tpm tpm2_createprimary -C o -G rsa4096 -c k.ctx)
    eq "$(yaml "$out" bits)" 4096 "bits"
}

c_primary_aes192() {
    [ "$TPM_PEER" = swtpm ] && skip "libtpms 0.9 has no AES-192"
    out=$(tpm tpm2_createprimary -C o -G aes192 -c k.ctx)
    eq "$(yaml "$out" sym-keybits)" 192 "key bits"
}

c_create_load_rsa() {
    primary
    tpm tpm2_create -C primary.ctx -G rsa2048 -u k.pub -r k.priv
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -n k.name -c k.ctx
    eq "$(hexof k.name)" "$(name_of k.pub)" "Name returned by Load"
    out=$(tpm tpm2_readpublic -c k.ctx -o k2.pub)
    same_file k.pub k2.pub "public area after load"
    eq "$(ysub "$out" attributes value)" "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt|sign" "attributes"
}

c_create_load_ecc() {
    primary
    tpm tpm2_create -C primary.ctx -G ecc256:ecdsa-sha256 -u k.pub -r k.priv
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -c k.ctx
    out=$(tpm tpm2_readpublic -c k.ctx)
    eq "$(ysub "$out" scheme value)" ecdsa "scheme"
    eq "$(ysub "$out" curve-id value)" 'NIST p256' "curve"
}

c_create_load_hmac_aes() {
    primary
    tpm tpm2_create -C primary.ctx -G hmac -u h.pub -r h.priv
    tpm tpm2_load -C primary.ctx -u h.pub -r h.priv -c h.ctx
    eq "$(ysub "$(tpm tpm2_readpublic -c h.ctx)" type value)" keyedhash "hmac key type"
    tpm tpm2_create -C primary.ctx -G aes256cfb -u a.pub -r a.priv
    tpm tpm2_load -C primary.ctx -u a.pub -r a.priv -c a.ctx
    out=$(tpm tpm2_readpublic -c a.ctx)
    eq "$(ysub "$out" type value)" symcipher "aes key type"
    eq "$(yaml "$out" sym-keybits)" 256 "aes key bits"
}

c_create_name_alg_sha384() {
    primary
    tpm tpm2_create -C primary.ctx -g sha384 -G ecc256 -u k.pub -r k.priv
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -n k.name -c k.ctx
    eq "$(hexof k.name)" "000c$(tail -c +3 k.pub | openssl dgst -sha384 -r | cut -d' ' -f1)" "sha384 Name"
}

c_create_children_differ() {
    primary
    tpm tpm2_create -C primary.ctx -G ecc256 -u a.pub -r a.priv
    tpm tpm2_create -C primary.ctx -G ecc256 -u b.pub -r b.priv
    differ a.pub b.pub "two ordinary keys from the same template"
}

c_createloaded() {
    # tpm2_create -c uses TPM2_CreateLoaded.
    primary
    tpm tpm2_create -C primary.ctx -G ecc256 -u k.pub -r k.priv -c k.ctx
    tpm tpm2_readpublic -c k.ctx -o k2.pub
    same_file k.pub k2.pub "public area of the loaded object"
    # The blobs load again under the same parent.
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -c k3.ctx
}

c_createloaded_primary_template() {
    # CreateLoaded under a hierarchy makes a primary key.
    tpm tpm2_createprimary -C o -G ecc256 -c a.ctx
    tpm tpm2_readpublic -c a.ctx -o a.pub
    tpm tpm2_createprimary -C o -G ecc256 -c b.ctx
    tpm tpm2_readpublic -c b.ctx -o b.pub
    same_file a.pub b.pub "primary keys"
}

c_seal_unseal() {
    primary
    printf 'top secret\n' >secret.txt
    tpm tpm2_create -C primary.ctx -i secret.txt -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c s.ctx
    tpm tpm2_unseal -c s.ctx -o out.txt
    same_file out.txt secret.txt "unsealed data"
    out=$(tpm tpm2_readpublic -c s.ctx)
    eq "$(ysub "$out" attributes value)" "fixedtpm|fixedparent|userwithauth" "sealed object attributes"
}

c_seal_unseal_password() {
    primary
    head -c 128 /dev/urandom >secret.bin
    tpm tpm2_create -C primary.ctx -i secret.bin -p s3cret -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c s.ctx
    tpm tpm2_unseal -c s.ctx -p s3cret -o out.bin
    same_file out.bin secret.bin "unsealed data"
    expect_rc 0x98e tpm2_unseal -c s.ctx -p wrong
    da_reset
    tpm tpm2_unseal -c s.ctx -p "hex:$(printf s3cret | od -An -tx1 | tr -d ' \n')" -o out2.bin
    same_file out2.bin secret.bin "unsealed with a hex password"
}

c_seal_max_size() {
    primary
    head -c 128 /dev/urandom >secret.bin
    tpm tpm2_create -C primary.ctx -i secret.bin -u s.pub -r s.priv
    head -c 129 /dev/urandom >toobig.bin
    expect_fail tpm2_create -C primary.ctx -i toobig.bin -u t.pub -r t.priv
}

c_unseal_key_refused() {
    primary
    tpm tpm2_create -C primary.ctx -G rsa2048 -u k.pub -r k.priv
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -c k.ctx
    expect_rc 0x18a tpm2_unseal -c k.ctx
}

c_load_wrong_parent() {
    primary p1.ctx
    tpm tpm2_createprimary -C o -G ecc256 -c p2.ctx
    tpm tpm2_create -C p1.ctx -G ecc256 -u k.pub -r k.priv
    # The private blob is bound to its parent: integrity check fails under another one.
    expect_fail tpm2_load -C p2.ctx -u k.pub -r k.priv -c k.ctx
    rc=$(last_rc)
    case $rc in 0x1df | 0x9a2 | 0x18b | 0x1d5 | 0x3df) ;; *) fail "unexpected rc $rc" ;; esac
}

c_load_tampered_private() {
    primary
    tpm tpm2_create -C primary.ctx -G ecc256 -u k.pub -r k.priv
    cp k.priv bad.priv
    # Flip a byte in the middle of the encrypted sensitive area.
    off=$(($(stat -c %s bad.priv) / 2))
    b=$(od -An -tu1 -j $off -N1 bad.priv | tr -d ' ')
    unhex "$(printf '%02x' $(((b + 1) % 256)))" | dd of=bad.priv bs=1 seek=$off conv=notrunc status=none
    expect_rc 0x1df tpm2_load -C primary.ctx -u k.pub -r bad.priv -c k.ctx
}

c_create_bad_attributes() {
    primary
    # sign + decrypt + restricted is inconsistent (parameter 2: inPublic).
    expect_rc 0x2c2 tpm2_create -C primary.ctx -G rsa2048 \
        -a "sign|decrypt|restricted|fixedtpm|fixedparent|sensitivedataorigin|userwithauth" -u a.pub -r a.priv
}

c_create_under_non_parent() {
    primary
    tpm tpm2_create -C primary.ctx -G ecc256:ecdsa-sha256 -u k.pub -r k.priv
    tpm tpm2_load -C primary.ctx -u k.pub -r k.priv -c k.ctx
    # A signing key is not a storage parent: TPM_RC_TYPE on handle 1.
    expect_rc 0x18a tpm2_create -C k.ctx -G ecc256 -u c.pub -r c.priv
}

c_loadexternal_rsa_public() {
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ext.pem 2>/dev/null
    openssl pkey -in ext.pem -pubout -out ext.pub.pem
    tpm tpm2_loadexternal -C o -G rsa -u ext.pub.pem -c ext.ctx -n ext.name
    out=$(tpm tpm2_readpublic -c ext.ctx -o ext.tpm.pub)
    mod=$(openssl rsa -pubin -in ext.pub.pem -noout -modulus | sed 's/Modulus=//' | tr A-F a-f)
    eq "$(yaml "$out" rsa)" "$mod" "modulus"
    eq "$(hexof ext.name)" "$(name_of ext.tpm.pub)" "Name"
}

c_loadexternal_ecc_public() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ext.pem 2>/dev/null
    openssl pkey -in ext.pem -pubout -out ext.pub.pem
    tpm tpm2_loadexternal -C n -G ecc -u ext.pub.pem -c ext.ctx
    tpm tpm2_readpublic -c ext.ctx -f pem -o back.pem
    eq "$(openssl pkey -pubin -in back.pem -outform der | sha256)" \
        "$(openssl pkey -pubin -in ext.pub.pem -outform der | sha256)" "public key read back"
}

c_loadexternal_rsa_private() {
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ext.pem 2>/dev/null
    tpm tpm2_loadexternal -C n -G rsa -r ext.pem -c ext.ctx
    tpm tpm2_readpublic -c ext.ctx -f pem -o back.pem
    eq "$(openssl pkey -pubin -in back.pem -outform der | sha256)" \
        "$(openssl pkey -in ext.pem -pubout -outform der | sha256)" "public part of the loaded key"
}

c_loadexternal_private_outside_null_refused() {
    # A private part may only be loaded in the NULL hierarchy (TPM_RC_HIERARCHY, parameter 3).
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ext.pem 2>/dev/null
    expect_rc 0x3c5 tpm2_loadexternal -C o -G ecc -r ext.pem -c ext.ctx
}

c_readpublic_formats() {
    primary
    tpm tpm2_readpublic -c primary.ctx -f der -o p.der
    tpm tpm2_readpublic -c primary.ctx -f pem -o p.pem
    eq "$(sha256 p.der)" "$(openssl pkey -pubin -in p.pem -outform der | sha256)" "der vs pem"
    tpm tpm2_readpublic -c primary.ctx -f tss -o p.tss
    tpm tpm2_readpublic -c primary.ctx -o p.pub -n p.name -q p.qname
    same_file p.tss p.pub "tss format"
    size_is p.qname 34
    # Qualified name of a primary: H(owner handle || Name).
    eq "$(hexof p.qname)" "000b$({ unhex 40000001; cat p.name; } | sha256)" "qualified name"
}

c_flush_by_context_and_handle() {
    tool tpm2_createprimary -Q -C o -G ecc256 -c a.ctx
    eq "$(transients)" 1 "loaded objects"
    h=$(tpm2_getcap handles-transient | sed -n 's/^- //p')
    tool tpm2_flushcontext "$h"
    eq "$(transients)" 0 "loaded objects after flushing $h"
    tool tpm2_createprimary -Q -C o -G ecc256 -c b.ctx
    tool tpm2_createprimary -Q -C o -G ecc256 -c c.ctx
    eq "$(transients)" 2 "loaded objects"
    tool tpm2_flushcontext -t
    eq "$(transients)" 0 "loaded objects after flushcontext -t"
    # (the tool reads the handle's public area first: that ReadPublic fails)
    expect_rc 0x910 tpm2_flushcontext 0x80000002
}

c_handle_out_of_range() {
    # With 3 object slots the transient handles are 0x80000000..0x80000002: a handle
    # beyond is TPM_RC_VALUE on handle 1, not an unloaded object.
    expect_rc 0x184 tpm2_readpublic -c 0x80000010
}

c_object_slots() {
    tool tpm2_flushcontext -t
    for i in 1 2 3; do tool tpm2_createprimary -Q -C o -G ecc256 -c k$i.ctx; done
    if tool tpm2_createprimary -Q -C o -G ecc256 -c k4.ctx; then
        n=$(($(tool tpm2_getcap properties-fixed | grep -A1 TPM2_PT_HR_TRANSIENT_MIN | sed -n 's/.*raw: //p')))
        [ "$n" -gt 3 ] || fail "a 4th object loaded with TPM2_PT_HR_TRANSIENT_MIN=$n"
    else
        eq "$(last_rc)" 0x902 "4th object"
    fi
    tool tpm2_flushcontext -t
    tool tpm2_createprimary -Q -C o -G ecc256 -c k5.ctx
}

c_context_reload() {
    # A saved context loads again (and twice: each load is a new object).
    primary
    tool tpm2_flushcontext -t
    tool tpm2_readpublic -c primary.ctx -o a.pub
    tool tpm2_readpublic -c primary.ctx -o b.pub
    eq "$(transients)" 2 "objects after loading the same context twice"
    same_file a.pub b.pub "the two copies"
}

c_evictcontrol_owner() {
    primary
    tpm tpm2_readpublic -c primary.ctx -o p.pub
    tpm tpm2_evictcontrol -C o -c primary.ctx 0x81000005 -o p.tr
    out=$(tpm tpm2_readpublic -c 0x81000005 -o q.pub)
    same_file p.pub q.pub "persistent copy"
    tpm tpm2_readpublic -c p.tr -o r.pub
    same_file p.pub r.pub "persistent copy via serialized handle"
    # Use it as a parent.
    tpm tpm2_create -C 0x81000005 -G ecc256 -u k.pub -r k.priv
    tpm tpm2_load -C 0x81000005 -u k.pub -r k.priv -c k.ctx
    tpm tpm2_evictcontrol -C o -c 0x81000005
    expect_rc 0x18b tpm2_readpublic -c 0x81000005
}

c_evictcontrol_handle_in_use() {
    primary
    tpm tpm2_evictcontrol -C o -c primary.ctx 0x81000006
    tpm tpm2_createprimary -C o -G ecc256 -c e.ctx
    expect_rc 0x14c tpm2_evictcontrol -C o -c e.ctx 0x81000006
    tpm tpm2_evictcontrol -C o -c 0x81000006
}

c_evictcontrol_wrong_range() {
    primary
    # Owner cannot use the platform range (TPM_RC_RANGE, parameter 1).
    expect_rc 0x1cd tpm2_evictcontrol -C o -c primary.ctx 0x81800000
}

c_evictcontrol_platform() {
    tpm tpm2_createprimary -C p -G ecc256 -c p.ctx
    tpm tpm2_evictcontrol -C p -c p.ctx 0x81800001
    tpm tpm2_readpublic -c 0x81800001
    # Owner may not evict a platform object.
    expect_fail tpm2_evictcontrol -C o -c 0x81800001
    tpm tpm2_evictcontrol -C p -c 0x81800001
}

c_evictcontrol_survives_reset() {
    tpm tpm2_createprimary -C o -G ecc256 -c p.ctx
    tpm tpm2_readpublic -c p.ctx -o p.pub
    tpm tpm2_evictcontrol -C o -c p.ctx 0x81000007
    tpm tpm2_shutdown -c
    tpm_reset
    tpm tpm2_readpublic -c 0x81000007 -o q.pub
    same_file p.pub q.pub "persistent object after TPM Reset"
    tpm tpm2_evictcontrol -C o -c 0x81000007
}

c_evictcontrol_sealed_unseal() {
    primary
    printf 'persistent secret' >s.txt
    tpm tpm2_create -C primary.ctx -i s.txt -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c s.ctx
    tpm tpm2_evictcontrol -C o -c s.ctx 0x81000008
    tpm tpm2_unseal -c 0x81000008 -o out.txt
    same_file out.txt s.txt "unsealed from the persistent handle"
    tpm tpm2_evictcontrol -C o -c 0x81000008
}

c_changeauth_object() {
    primary
    printf 'data' >d.txt
    tpm tpm2_create -C primary.ctx -i d.txt -p old -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c s.ctx
    tpm tpm2_changeauth -C primary.ctx -c s.ctx -p old -r new.priv new
    tpm tpm2_load -C primary.ctx -u s.pub -r new.priv -c n.ctx
    tpm tpm2_unseal -c n.ctx -p new -o out.txt
    same_file out.txt d.txt "unsealed with the new auth"
    # The old blob still carries the old auth.
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c o.ctx
    tpm tpm2_unseal -c o.ctx -p old -o out2.txt
    expect_rc 0x98e tpm2_unseal -c n.ctx -p old
    da_reset
}

c_changeauth_object_wrong_auth() {
    primary
    printf 'data' >d.txt
    tpm tpm2_create -C primary.ctx -i d.txt -p old -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c s.ctx
    expect_rc 0x98e tpm2_changeauth -C primary.ctx -c s.ctx -p bad -r new.priv new
    da_reset
}

c_noda_object_bad_auth() {
    primary
    printf 'data' >d.txt
    tpm tpm2_create -C primary.ctx -i d.txt -p pw -a "fixedtpm|fixedparent|userwithauth|noda" -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c s.ctx
    before=$(($(prop TPM2_PT_LOCKOUT_COUNTER)))
    # A noDA object: TPM_RC_BAD_AUTH, and the lockout counter does not move.
    expect_rc 0x9a2 tpm2_unseal -c s.ctx -p wrong
    eq "$(($(prop TPM2_PT_LOCKOUT_COUNTER)))" "$before" "lockout counter"
}

c_creation_data() {
    primary
    printf 'outside' >q.bin
    tpm tpm2_create -C primary.ctx -G ecc256 -q q.bin -l sha256:0,1 --creation-data cd.bin \
        -d cd.hash -t cd.ticket -u k.pub -r k.priv
    eq "$(hexof cd.hash)" "0020$(tail -c +3 cd.bin | sha256)" "creation hash = H(creation data)"
    [ -s cd.ticket ] || fail "no creation ticket"
    # TPMS_CREATION_DATA ends with the outside info (TPM2B).
    eq "$(tail -c 9 cd.bin | hexof /dev/stdin)" "0007$(hexof q.bin)" "outside info at the end of the creation data"
}

run_case primary_rsa_default c_primary_rsa_default
run_case primary_deterministic c_primary_deterministic
run_case primary_ecc c_primary_ecc
run_case primary_every_hierarchy c_primary_every_hierarchy
run_case primary_sizes c_primary_sizes
run_case primary_rsa4096 c_primary_rsa4096
run_case primary_aes192 c_primary_aes192
run_case create_load_rsa c_create_load_rsa
run_case create_load_ecc c_create_load_ecc
run_case create_load_hmac_aes c_create_load_hmac_aes
run_case create_name_alg_sha384 c_create_name_alg_sha384
run_case create_children_differ c_create_children_differ
run_case createloaded c_createloaded
run_case createloaded_primary_template c_createloaded_primary_template
run_case seal_unseal c_seal_unseal
run_case seal_unseal_password c_seal_unseal_password
run_case seal_max_size c_seal_max_size
run_case unseal_key_refused c_unseal_key_refused
run_case load_wrong_parent c_load_wrong_parent
run_case load_tampered_private c_load_tampered_private
run_case create_bad_attributes c_create_bad_attributes
run_case create_under_non_parent c_create_under_non_parent
run_case loadexternal_rsa_public c_loadexternal_rsa_public
run_case loadexternal_ecc_public c_loadexternal_ecc_public
run_case loadexternal_rsa_private c_loadexternal_rsa_private
run_case loadexternal_private_outside_null_refused c_loadexternal_private_outside_null_refused
run_case readpublic_formats c_readpublic_formats
run_case flush_by_context_and_handle c_flush_by_context_and_handle
run_case handle_out_of_range c_handle_out_of_range
run_case object_slots c_object_slots
run_case context_reload c_context_reload
run_case evictcontrol_owner c_evictcontrol_owner
run_case evictcontrol_handle_in_use c_evictcontrol_handle_in_use
run_case evictcontrol_wrong_range c_evictcontrol_wrong_range
run_case evictcontrol_platform c_evictcontrol_platform
run_case evictcontrol_survives_reset c_evictcontrol_survives_reset
run_case evictcontrol_sealed_unseal c_evictcontrol_sealed_unseal
run_case changeauth_object c_changeauth_object
run_case changeauth_object_wrong_auth c_changeauth_object_wrong_auth
run_case noda_object_bad_auth c_noda_object_bad_auth
run_case creation_data c_creation_data
finish
