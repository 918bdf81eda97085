#!/bin/bash
# Random numbers: tpm2_getrandom, tpm2_stirrandom.
. "$(dirname "$0")/lib.sh"
startup || exit 1

c_sizes_to_file() {
    for n in 1 2 8 16 20 32 48 64; do
        tpm tpm2_getrandom -o r$n.bin $n
        size_is r$n.bin $n
    done
}

c_hex_output() {
    out=$(tpm tpm2_getrandom 32 --hex)
    match "$out" '^[0-9a-f]{64}$' "32 random bytes as hex"
}

c_zero_bytes() {
    tpm tpm2_getrandom -o r0.bin 0
    size_is r0.bin 0
}

c_calls_differ() {
    tpm tpm2_getrandom -o a.bin 32
    tpm tpm2_getrandom -o b.bin 32
    differ a.bin b.bin "two GetRandom(32)"
    zero=$(printf '%064d' 0)
    ne "$(hexof a.bin)" "$zero" "random bytes"
}

c_not_degenerate() {
    # 2 KiB from 32 calls: every call distinct, and the bytes spread over most values.
    for i in $(seq 1 32); do
        tpm tpm2_getrandom -o part$i.bin 64
        hexof part$i.bin >>lines.txt
        echo >>lines.txt
    done
    eq "$(sort -u lines.txt | wc -l)" 32 "distinct 64-byte blocks"
    cat part*.bin >all.bin
    values=$(od -An -v -tu1 all.bin | tr -s ' ' '\n' | grep -v '^$' | sort -u | wc -l)
    [ "$values" -ge 240 ] || fail "only $values distinct byte values in 2048 random bytes"
}

c_more_than_a_digest_tool_refuses() {
    # The tool bounds requests by the largest digest (TPM2_PT_MAX_DIGEST) unless forced.
    expect_fail tpm2_getrandom 65 --hex
    max=$(tool tpm2_getcap properties-fixed | grep -A1 TPM2_PT_MAX_DIGEST | sed -n 's/.*raw: //p')
    [ -n "$max" ] || fail "no TPM2_PT_MAX_DIGEST"
    eq "$((max))" 64 "TPM2_PT_MAX_DIGEST"
}

c_forced_large_request() {
    # The TPM may return fewer bytes than asked (at most a digest's worth), never more.
    tpm tpm2_getrandom -f -o big.bin 100
    n=$(stat -c %s big.bin)
    [ "$n" -ge 1 ] && [ "$n" -le 100 ] || fail "forced GetRandom(100) returned $n bytes"
}

c_stir_128_bytes() {
    head -c 128 /dev/urandom >seed.bin
    tpm tpm2_stirrandom seed.bin
    tpm tpm2_getrandom -o r.bin 16
    size_is r.bin 16
}

c_stir_stdin() {
    echo "some additional entropy" | tpm tpm2_stirrandom
    tpm tpm2_getrandom -o r.bin 8
    size_is r.bin 8
}

c_stir_same_seed_still_random() {
    # Stirring cannot make the output repeat.
    printf 'fixed seed' >seed.bin
    tpm tpm2_stirrandom seed.bin
    tpm tpm2_getrandom -o a.bin 32
    tpm tpm2_stirrandom seed.bin
    tpm tpm2_getrandom -o b.bin 32
    differ a.bin b.bin "output after the same stir"
}

c_stir_too_large() {
    head -c 129 /dev/urandom >seed.bin
    # (from stdin: for a file the tool checks the size itself)
    expect_rc 0x1d5 tpm2_stirrandom <seed.bin
}

c_session_without_purpose_refused() {
    # GetRandom takes no authorization: a session that neither encrypts nor audits is
    # TPM_RC_ATTRIBUTES (session 1).
    tpm tpm2_startauthsession --hmac-session -S s.ctx
    expect_rc 0x982 tpm2_getrandom -S s.ctx -o a.bin 16
    tpm tpm2_flushcontext s.ctx
}

c_getrandom_encrypted_response() {
    # Response parameter encryption (AES-CFB) on an unbound, unsalted HMAC session.
    tpm tpm2_startauthsession --hmac-session -S s.ctx
    tpm tpm2_sessionconfig --enable-encrypt s.ctx
    tpm tpm2_getrandom -S s.ctx -o a.bin 32
    size_is a.bin 32
    tpm tpm2_getrandom -S s.ctx -o b.bin 32
    differ a.bin b.bin "two encrypted GetRandom(32)"
    tpm tpm2_flushcontext s.ctx
}

c_getrandom_encrypted_xor_session() {
    # -G xor would need a key; a SHA-1 session exercises a different session hash.
    tpm tpm2_startauthsession --hmac-session -g sha1 -S s.ctx
    tpm tpm2_sessionconfig --enable-encrypt s.ctx
    tpm tpm2_getrandom -S s.ctx -o a.bin 20
    size_is a.bin 20
    tpm tpm2_flushcontext s.ctx
}

run_case sizes_to_file c_sizes_to_file
run_case hex_output c_hex_output
run_case zero_bytes c_zero_bytes
run_case calls_differ c_calls_differ
run_case not_degenerate c_not_degenerate
run_case more_than_a_digest_tool_refuses c_more_than_a_digest_tool_refuses
run_case forced_large_request c_forced_large_request
run_case stir_128_bytes c_stir_128_bytes
run_case stir_stdin c_stir_stdin
run_case stir_same_seed_still_random c_stir_same_seed_still_random
run_case stir_too_large c_stir_too_large
run_case session_without_purpose_refused c_session_without_purpose_refused
run_case getrandom_encrypted_response c_getrandom_encrypted_response
run_case getrandom_sha1_session_encrypted c_getrandom_encrypted_xor_session
finish
