#!/bin/bash
# NV indices: tpm2_nvdefine, tpm2_nvwrite, tpm2_nvread, tpm2_nvincrement, tpm2_nvextend,
# tpm2_nvsetbits, tpm2_nvreadlock, tpm2_nvwritelock, tpm2_nvundefine, tpm2_nvreadpublic,
# tpm2_nvcertify, tpm2_policynv, tpm2_policynvwritten, tpm2_policyauthorizenv.
. "$(dirname "$0")/lib.sh"
startup || exit 1

ZERO=$(printf '%064d' 0)
IDX=0x1500010

case_cleanup() {
    local h
    for h in $(tpm2_getcap handles-nv-index | sed -n 's/^- //p'); do
        if [ $((h)) -ge $((0x01400000)) ] && [ $((h)) -lt $((0x01500000)) ]; then
            tpm2_nvundefine -C p "$h"
        else
            tpm2_nvundefine -C o "$h"
        fi
    done
    tpm2_flushcontext -t
    tpm2_flushcontext -s
    da_reset
}

define() { # define INDEX SIZE ATTRIBUTES [extra nvdefine args]
    local i=$1 n=$2 a=$3
    shift 3
    tpm tpm2_nvdefine "$i" -C o -s "$n" -a "$a" "$@"
}

# The attribute value (hex, 8 digits) printed by tpm2_nvreadpublic for an index.
attrs_of() {
    printf '%08x' "$(tpm tpm2_nvreadpublic "$1" | sed -n '/attributes:/,/value:/p' | sed -n 's/.*value: //p')"
}

c_define_readpublic() {
    define $IDX 32 "ownerread|ownerwrite|authread|authwrite"
    out=$(tpm tpm2_nvreadpublic $IDX)
    eq "$(yaml "$out" size)" 32 "size"
    a=$(attrs_of $IDX)
    eq "$a" 00060006 "attributes"
    # Name = nameAlg || H(TPMS_NV_PUBLIC)
    eq "$(yaml "$out" name)" "000b$(unhex "01500010000b${a}00000020" | sha256)" "NV Name"
    out=$(tpm tpm2_getcap handles-nv-index)
    match "$out" '0x1500010' "index listed"
}

c_define_twice() {
    define $IDX 8 "ownerread|ownerwrite"
    expect_rc 0x14c tpm2_nvdefine $IDX -C o -s 8 -a "ownerread|ownerwrite"
}

c_write_read() {
    define $IDX 64 "ownerread|ownerwrite"
    head -c 64 /dev/urandom >data.bin
    tpm tpm2_nvwrite $IDX -C o -i data.bin
    tpm tpm2_nvread $IDX -C o -s 64 -o back.bin
    same_file back.bin data.bin "read back"
    out=$(tpm tpm2_nvreadpublic $IDX)
    match "$(ysub "$out" "  attributes" friendly)" 'written' "written attribute"
}

c_write_read_offsets() {
    define $IDX 32 "ownerread|ownerwrite"
    head -c 32 /dev/zero >zero.bin
    tpm tpm2_nvwrite $IDX -C o -i zero.bin
    printf 'ABCD' >abcd.bin
    tpm tpm2_nvwrite $IDX -C o -i abcd.bin --offset 10
    tpm tpm2_nvread $IDX -C o -s 6 --offset 8 -o part.bin
    eq "$(hexof part.bin)" 000041424344 "6 bytes at offset 8"
}

c_read_uninitialized() {
    define $IDX 16 "ownerread|ownerwrite"
    expect_rc 0x14a tpm2_nvread $IDX -C o -s 16
}

c_large_index() {
    # 2048 bytes: the tool splits the write and the read by TPM2_PT_NV_BUFFER_MAX.
    define $IDX 2048 "ownerread|ownerwrite"
    head -c 2048 /dev/urandom >big.bin
    tpm tpm2_nvwrite $IDX -C o -i big.bin
    tpm tpm2_nvread $IDX -C o -o back.bin
    same_file back.bin big.bin "2048 bytes read back"
}

c_index_auth() {
    define $IDX 16 "authread|authwrite" -p idxpw
    printf 'index password..' >d.bin
    tpm tpm2_nvwrite $IDX -C $IDX -P idxpw -i d.bin
    tpm tpm2_nvread $IDX -C $IDX -P idxpw -s 16 -o back.bin
    same_file back.bin d.bin "read back"
    expect_rc 0x98e tpm2_nvread $IDX -C $IDX -P wrong -s 16
    da_reset
    # No owner access was granted.
    expect_rc 0x149 tpm2_nvread $IDX -C o -s 16
}

c_owner_write_refused() {
    define $IDX 8 "ownerread|authwrite"
    head -c 8 /dev/zero >d.bin
    expect_rc 0x149 tpm2_nvwrite $IDX -C o -i d.bin
}

c_counter() {
    define $IDX 8 "nt=counter|ownerread|ownerwrite"
    tpm tpm2_nvincrement $IDX -C o
    tpm tpm2_nvread $IDX -C o -s 8 -o c1.bin
    tpm tpm2_nvincrement $IDX -C o
    tpm tpm2_nvincrement $IDX -C o
    tpm tpm2_nvread $IDX -C o -s 8 -o c2.bin
    eq "$((0x$(hexof c2.bin)))" "$((0x$(hexof c1.bin) + 2))" "counter after two more increments"
    # A counter cannot be written.
    head -c 8 /dev/zero >d.bin
    expect_fail tpm2_nvwrite $IDX -C o -i d.bin
}

c_bits() {
    define $IDX 8 "nt=bits|ownerread|ownerwrite"
    tpm tpm2_nvsetbits $IDX -C o -i 0x1
    tpm tpm2_nvsetbits $IDX -C o -i 0x8000000000000004
    tpm tpm2_nvread $IDX -C o -s 8 -o b.bin
    eq "$(hexof b.bin)" 8000000000000005 "bit field"
}

c_extend() {
    define $IDX 32 "nt=extend|ownerread|ownerwrite" -g sha256
    printf 'first' >a.bin
    printf 'second' >b.bin
    tpm tpm2_nvextend $IDX -C o -i a.bin
    tpm tpm2_nvextend $IDX -C o -i b.bin
    tpm tpm2_nvread $IDX -C o -s 32 -o v.bin
    v1=$(unhex "$ZERO$(hexof a.bin)" | sha256)
    eq "$(hexof v.bin)" "$(unhex "$v1$(hexof b.bin)" | sha256)" "extend index value"
}

c_writelock_writedefine() {
    define $IDX 8 "ownerread|ownerwrite|writedefine"
    printf '12345678' >d.bin
    tpm tpm2_nvwrite $IDX -C o -i d.bin
    tpm tpm2_nvwritelock $IDX -C o
    expect_rc 0x148 tpm2_nvwrite $IDX -C o -i d.bin
    match "$(attrs_of $IDX)" '^[0-9a-f]{8}$' "attributes"
    (($((0x$(attrs_of $IDX))) & 0x800)) || fail "writelocked attribute not set"
    # Still locked after a TPM Reset.
    tpm tpm2_shutdown -c
    tpm_reset
    expect_rc 0x148 tpm2_nvwrite $IDX -C o -i d.bin
    tpm tpm2_nvread $IDX -C o -s 8 -o back.bin
    same_file back.bin d.bin "content of the locked index"
}

c_writelock_stclear() {
    define $IDX 8 "ownerread|ownerwrite|write_stclear"
    printf '12345678' >d.bin
    tpm tpm2_nvwrite $IDX -C o -i d.bin
    tpm tpm2_nvwritelock $IDX -C o
    expect_rc 0x148 tpm2_nvwrite $IDX -C o -i d.bin
    tpm tpm2_shutdown -c
    tpm_reset
    tpm tpm2_nvwrite $IDX -C o -i d.bin
}

c_writelock_not_allowed() {
    define $IDX 8 "ownerread|ownerwrite"
    # Neither writedefine nor write_stclear: TPM_RC_ATTRIBUTES on handle 2 (the index).
    expect_rc 0x282 tpm2_nvwritelock $IDX -C o
}

c_readlock() {
    define $IDX 8 "ownerread|ownerwrite|read_stclear"
    printf '12345678' >d.bin
    tpm tpm2_nvwrite $IDX -C o -i d.bin
    tpm tpm2_nvreadlock $IDX -C o
    expect_rc 0x148 tpm2_nvread $IDX -C o -s 8
    # Writes still work.
    tpm tpm2_nvwrite $IDX -C o -i d.bin
    tpm tpm2_shutdown -c
    tpm_reset
    tpm tpm2_nvread $IDX -C o -s 8 -o back.bin
    same_file back.bin d.bin "read after reset"
}

c_globallock() {
    define $IDX 8 "ownerread|ownerwrite|globallock"
    define 0x1500011 8 "ownerread|ownerwrite"
    printf '12345678' >d.bin
    tpm tpm2_nvwritelock --global -C o
    expect_rc 0x148 tpm2_nvwrite $IDX -C o -i d.bin
    # Only indices with globallock are affected.
    tpm tpm2_nvwrite 0x1500011 -C o -i d.bin
}

c_undefine() {
    define $IDX 8 "ownerread|ownerwrite"
    tpm tpm2_nvundefine $IDX -C o
    expect_rc 0x18b tpm2_nvreadpublic $IDX
    eq "$(tpm2_getcap handles-nv-index | grep -c '^- ' || true)" 0 "NV indices"
}

c_platform_index() {
    tpm tpm2_nvdefine 0x1400010 -C p -s 8 -a "ppread|ppwrite|platformcreate"
    printf 'platform' >d.bin
    tpm tpm2_nvwrite 0x1400010 -C p -i d.bin
    tpm tpm2_nvread 0x1400010 -C p -s 8 -o back.bin
    same_file back.bin d.bin "platform index content"
    # The owner cannot delete a platform index.
    expect_fail tpm2_nvundefine 0x1400010 -C o
    tpm tpm2_nvundefine 0x1400010 -C p
}

c_policy_index() {
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policycommandcode -S t.ctx -L read.policy TPM2_CC_NV_Read
    tpm tpm2_flushcontext t.ctx
    define $IDX 8 "policyread|ownerwrite" -L read.policy
    printf 'policy!!' >d.bin
    tpm tpm2_nvwrite $IDX -C o -i d.bin
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_NV_Read
    tpm tpm2_nvread $IDX -C $IDX -P session:s.ctx -s 8 -o back.bin
    tpm tpm2_flushcontext s.ctx
    same_file back.bin d.bin "read with a policy session"
}

c_survives_reset() {
    define $IDX 16 "ownerread|ownerwrite"
    head -c 16 /dev/urandom >d.bin
    tpm tpm2_nvwrite $IDX -C o -i d.bin
    tpm tpm2_shutdown -c
    tpm_reset
    tpm tpm2_nvread $IDX -C o -s 16 -o back.bin
    same_file back.bin d.bin "content after TPM Reset"
}

c_nvcertify() {
    define $IDX 32 "ownerread|ownerwrite|authread|authwrite"
    head -c 32 /dev/urandom >d.bin
    tpm tpm2_nvwrite $IDX -C o -i d.bin
    primary
    tpm tpm2_create -C primary.ctx -G rsa2048:rsassa-sha256 -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign" -u k.pub -r k.priv -c k.ctx
    tpm tpm2_readpublic -c k.ctx -f pem -o k.pem
    tpm tpm2_nvcertify -C k.ctx -g sha256 -f plain -s rsassa -o sig.bin --attestation att.bin --size 32 -c o $IDX
    openssl dgst -sha256 -verify k.pem -signature sig.bin att.bin >/dev/null || fail "signature over the NV certify info does not verify"
    # TPMS_NV_CERTIFY_INFO ends with offset (0) and the contents as a TPM2B.
    eq "$(tail -c 36 att.bin | hexof /dev/stdin)" "00000020$(hexof d.bin)" "certified contents"
}

c_policynv() {
    define $IDX 8 "ownerread|ownerwrite|authread|authwrite"
    printf '\x00\x00\x00\x00\x00\x00\x00\x05' >five.bin
    tpm tpm2_nvwrite $IDX -C o -i five.bin
    # Satisfied: contents == 5.
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policynv -S s.ctx -C $IDX -i five.bin $IDX eq -L nv.policy
    tpm tpm2_flushcontext s.ctx
    name=$(yaml "$(tpm tpm2_nvreadpublic $IDX)" name)
    args=$(unhex "$(hexof five.bin)00000000" | sha256)
    eq "$(hexof nv.policy)" "$(unhex "${ZERO}00000149$args$name" | sha256)" "PolicyNV digest"
    # Not satisfied: contents != 6.
    printf '\x00\x00\x00\x00\x00\x00\x00\x06' >six.bin
    tpm tpm2_startauthsession --policy-session -S s2.ctx
    expect_rc 0x126 tpm2_policynv -S s2.ctx -C $IDX -i six.bin $IDX eq
    tpm2_flushcontext s2.ctx 2>/dev/null || true
}

c_policynvwritten() {
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policynvwritten -S t.ctx -L w.policy c
    tpm tpm2_flushcontext t.ctx
    eq "$(hexof w.policy)" "$(unhex "${ZERO}0000018f00" | sha256)" "PolicyNvWritten(NO) digest"
    # An index writable only once.
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policycommandcode -S t.ctx TPM2_CC_NV_Write
    tpm tpm2_policynvwritten -S t.ctx -L once.policy c
    tpm tpm2_flushcontext t.ctx
    define $IDX 8 "policywrite|ownerread" -L once.policy
    printf 'once....' >d.bin
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_NV_Write
    tpm tpm2_policynvwritten -S s.ctx c
    tpm tpm2_nvwrite $IDX -C $IDX -P session:s.ctx -i d.bin
    tpm tpm2_flushcontext s.ctx
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_NV_Write
    tpm tpm2_policynvwritten -S s.ctx c
    expect_fail tpm2_nvwrite $IDX -C $IDX -P session:s.ctx -i d.bin
    tpm2_flushcontext s.ctx 2>/dev/null || true
}

c_policyauthorizenv() {
    # The index holds the approved policy (TPMT_HA: sha256 || digest).
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policycommandcode -S t.ctx -L cc.policy TPM2_CC_Unseal
    tpm tpm2_flushcontext t.ctx
    define $IDX 34 "ownerread|ownerwrite|authread|authwrite"
    { unhex 000b; cat cc.policy; } >ha.bin
    tpm tpm2_nvwrite $IDX -C o -i ha.bin
    tpm tpm2_startauthsession -S t.ctx
    tpm tpm2_policyauthorizenv -S t.ctx -C $IDX -L anv.policy $IDX
    tpm tpm2_flushcontext t.ctx
    name=$(yaml "$(tpm tpm2_nvreadpublic $IDX)" name)
    eq "$(hexof anv.policy)" "$(unhex "${ZERO}00000192$name" | sha256)" "PolicyAuthorizeNV digest"
    primary
    printf 'anv' >secret.txt
    tpm tpm2_create -C primary.ctx -i secret.txt -L anv.policy -a "fixedtpm|fixedparent" -u s.pub -r s.priv
    tpm tpm2_load -C primary.ctx -u s.pub -r s.priv -c obj.ctx
    tpm tpm2_startauthsession --policy-session -S s.ctx
    tpm tpm2_policycommandcode -S s.ctx TPM2_CC_Unseal
    tpm tpm2_policyauthorizenv -S s.ctx -C $IDX $IDX
    tpm tpm2_unseal -c obj.ctx -p session:s.ctx -o out.txt
    tpm tpm2_flushcontext s.ctx
    same_file out.txt secret.txt "unsealed through PolicyAuthorizeNV"
}

run_case define_readpublic c_define_readpublic
run_case define_twice c_define_twice
run_case write_read c_write_read
run_case write_read_offsets c_write_read_offsets
run_case read_uninitialized c_read_uninitialized
run_case large_index c_large_index
run_case index_auth c_index_auth
run_case owner_write_refused c_owner_write_refused
run_case counter c_counter
run_case bits c_bits
run_case extend c_extend
run_case writelock_writedefine c_writelock_writedefine
run_case writelock_stclear c_writelock_stclear
run_case writelock_not_allowed c_writelock_not_allowed
run_case readlock c_readlock
run_case globallock c_globallock
run_case undefine c_undefine
run_case platform_index c_platform_index
run_case policy_index c_policy_index
run_case survives_reset c_survives_reset
run_case nvcertify c_nvcertify
run_case policynv c_policynv
run_case policynvwritten c_policynvwritten
run_case policyauthorizenv c_policyauthorizenv
finish
