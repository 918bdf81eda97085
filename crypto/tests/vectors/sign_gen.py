#!/usr/bin/env python3
"""Generates sign.txt: signature known answers made by openssl (run from this
directory; needs the openssl CLI). Keys are fresh each run, so rerunning
changes every record; the committed file is the witness.

RSA records: the key (n, e, p), the digest, openssl's PKCS#1 v1.5 signature
(deterministic: vtpm must produce the same bytes) and two openssl PSS
signatures, one with the TPM's salt length (the digest size, or what fits)
and one with the longest salt
(vtpm must accept both). ECDSA records: the key (d, x, y), the digest and
openssl's (r, s)."""
import hashlib, os, re, subprocess, tempfile

MSG = b"vtpm signature vectors"
HASHES = ["sha1", "sha256", "sha384", "sha512"]

def run(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout

def field(text, name):
    m = re.search(name + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    h = "".join(m.group(1).split()).replace(":", "")
    return h

def der_ints(der):
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = []
    while i < len(der):
        assert der[i] == 0x02
        n = der[i + 1]; i += 2
        out.append(der[i:i + n].lstrip(b"\0")); i += n
    return out

def tpm_salt(bits, alg):
    h = hashlib.new(alg).digest_size
    return min(h, bits // 8 - h - 2)

def sign(key, digest, alg, opts):
    with tempfile.NamedTemporaryFile() as f:
        f.write(digest); f.flush()
        args = ["pkeyutl", "-sign", "-inkey", key, "-in", f.name, "-pkeyopt", f"digest:{alg}"]
        for o in opts:
            args += ["-pkeyopt", o]
        return run(*args)

out = ["# Signature known answers made by openssl (sign_gen.py). Fields hex."]
with tempfile.TemporaryDirectory() as d:
    for bits in (1024, 2048):
        key = os.path.join(d, f"rsa{bits}.pem")
        run("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}", "-out", key)
        text = run("pkey", "-in", key, "-text", "-noout").decode()
        n = field(text, "modulus")
        n = n[2:] if n.startswith("00") else n
        p = field(text, "prime1")
        p = p[2:] if p.startswith("00") else p
        e = re.search(r"publicExponent: (\d+)", text).group(1)
        for alg in HASHES:
            digest = hashlib.new(alg, MSG).digest()
            out += ["", "kind = rsa", f"alg = {alg}", f"n = {n}", f"e = {e}", f"p = {p}",
                    f"digest = {digest.hex()}",
                    f"pkcs1 = {sign(key, digest, alg, ['rsa_padding_mode:pkcs1']).hex()}",
                    f"pss_tpm_salt = {sign(key, digest, alg, ['rsa_padding_mode:pss', f'rsa_pss_saltlen:{tpm_salt(bits, alg)}']).hex()}",
                    f"pss_max_salt = {sign(key, digest, alg, ['rsa_padding_mode:pss', 'rsa_pss_saltlen:max']).hex()}"]
    for curve, name in (("P-256", "p256"), ("P-384", "p384"), ("P-521", "p521")):
        key = os.path.join(d, f"{name}.pem")
        run("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-out", key)
        text = run("pkey", "-in", key, "-text", "-noout").decode()
        priv = field(text, "priv")
        pub = field(text, "pub")
        assert pub.startswith("04")
        pub = pub[2:]
        half = len(pub) // 2
        for alg in HASHES:
            digest = hashlib.new(alg, MSG).digest()
            der = sign(key, digest, alg, [])
            r, s = der_ints(der)
            out += ["", "kind = ecdsa", f"curve = {name}", f"alg = {alg}", f"d = {priv}",
                    f"x = {pub[:half]}", f"y = {pub[half:]}", f"digest = {digest.hex()}",
                    f"r = {r.hex()}", f"s = {s.hex()}"]
open("sign.txt", "w").write("\n".join(out) + "\n")
