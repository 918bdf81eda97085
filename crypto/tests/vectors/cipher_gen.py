#!/usr/bin/env python3
"""Generates cipher.txt: known answers made by openssl (run from this
directory; needs the openssl CLI) for the encryption primitives of
TPM2_EncryptDecrypt, RSA_Encrypt/RSA_Decrypt and ECDH. Keys, IVs and data
are fresh each run; the committed file is the witness.

- kind = aes: `openssl enc` of `plain` under `key`/`iv` in `mode` (CFB128,
  CBC and ECB without padding, CTR, OFB); vtpm must produce `cipher`.
- kind = rsa: an RSA key (n, e, p), a message `msg` and openssl's
  ciphertexts: `oaep` (OAEP with `hash` for label and MGF1, `label`),
  `pkcs1` (RSAES-PKCS1-v1_5) — random, so vtpm must decrypt them — and
  `raw` (no padding, deterministic: vtpm must produce it) of `raw_msg`.
- kind = ecdh: openssl `pkeyutl -derive` between a private key `d` and a
  peer point (qx, qy): the shared x coordinate `z`."""
import os, re, subprocess, tempfile

def run(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout

def field(text, name):
    m = re.search(name + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    return "".join(m.group(1).split()).replace(":", "")

def strip00(h):
    return h[2:] if h.startswith("00") else h

out = ["# Cipher known answers made by openssl (cipher_gen.py). Fields hex."]
for bits in (128, 192, 256):
    for mode in ("cfb", "cbc", "ctr", "ofb", "ecb"):
        for size in ((16, 64) if mode in ("cbc", "ecb") else (16, 37, 64)):
            key, iv, plain = os.urandom(bits // 8), os.urandom(16), os.urandom(size)
            args = ["enc", f"-aes-{bits}-{mode}", "-K", key.hex(), "-nopad"]
            if mode != "ecb":
                args += ["-iv", iv.hex()]
            cipher = run(*args, data=plain)
            out += ["", "kind = aes", f"mode = {mode}", f"key = {key.hex()}",
                    f"iv = {iv.hex() if mode != 'ecb' else ''}", f"plain = {plain.hex()}",
                    f"cipher = {cipher.hex()}"]

with tempfile.TemporaryDirectory() as d:
    for bits in (1024, 2048):
        key = os.path.join(d, f"rsa{bits}.pem")
        run("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}", "-out", key)
        text = run("pkey", "-in", key, "-text", "-noout").decode()
        n = strip00(field(text, "modulus"))
        p = strip00(field(text, "prime1"))
        e = re.search(r"publicExponent: (\d+)", text).group(1)
        for hash in ("sha1", "sha256", "sha384"):
            msg = os.urandom(20)
            label = b"vtpm label\0"
            oaep = run("pkeyutl", "-encrypt", "-inkey", key, "-pkeyopt", "rsa_padding_mode:oaep",
                       "-pkeyopt", f"rsa_oaep_md:{hash}", "-pkeyopt", f"rsa_mgf1_md:{hash}",
                       "-pkeyopt", f"rsa_oaep_label:{label.hex()}", data=msg)
            pkcs1 = run("pkeyutl", "-encrypt", "-inkey", key, "-pkeyopt", "rsa_padding_mode:pkcs1",
                        data=msg)
            raw_msg = b"\x00" + os.urandom(bits // 8 - 1)
            raw = run("pkeyutl", "-encrypt", "-inkey", key, "-pkeyopt", "rsa_padding_mode:none",
                      data=raw_msg)
            out += ["", "kind = rsa", f"hash = {hash}", f"n = {n}", f"e = {e}", f"p = {p}",
                    f"msg = {msg.hex()}", f"label = {label.hex()}", f"oaep = {oaep.hex()}",
                    f"pkcs1 = {pkcs1.hex()}", f"raw_msg = {raw_msg.hex()}", f"raw = {raw.hex()}"]
    for curve, name in (("P-256", "p256"), ("P-384", "p384"), ("P-521", "p521")):
        a, b = os.path.join(d, f"{name}a.pem"), os.path.join(d, f"{name}b.pem")
        for k in (a, b):
            run("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-out", k)
        run("pkey", "-in", b, "-pubout", "-out", b + ".pub")
        z = run("pkeyutl", "-derive", "-inkey", a, "-peerkey", b + ".pub")
        ta = run("pkey", "-in", a, "-text", "-noout").decode()
        tb = run("pkey", "-in", b, "-text", "-noout").decode()
        pub = field(tb, "pub")
        assert pub.startswith("04")
        pub = pub[2:]
        half = len(pub) // 2
        out += ["", "kind = ecdh", f"curve = {name}", f"d = {field(ta, 'priv')}",
                f"qx = {pub[:half]}", f"qy = {pub[half:]}", f"z = {z.hex()}"]
open("cipher.txt", "w").write("\n".join(out) + "\n")
