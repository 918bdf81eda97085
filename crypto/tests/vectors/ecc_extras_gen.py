#!/usr/bin/env python3
"""Generates ecc_extras.txt (run from this directory; needs the openssl CLI
and python3-cryptography):

- kind = cmac: AES-CMAC tags. The four AES-128 examples of NIST SP 800-38B
  (appendix D.1) are fixed; the others are `openssl mac -cipher AES-<n>-CBC
  CMAC` over fresh keys and messages.
- kind = zgen2: TPM2_ZGen_2Phase with TPM_ALG_ECDH (SP800-56A C(2e, 2s)):
  outZ1 = [dsA]QsB and outZ2 = [deA]QeB as full points, computed here with
  textbook affine arithmetic; each x is checked against the `cryptography`
  package's ECDH exchange before it is written.
- kind = commit: TPM2_Commit's points for a key d and commit random r:
  with P2 = (H_sha256(s2) mod p, y2): K = [d]P2, L = [r]P2; E = [r]P1."""
import hashlib, os, subprocess, tempfile
from cryptography.hazmat.primitives.asymmetric import ec

CURVES = {
    "p256": (ec.SECP256R1(), 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff,
             -3, 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296,
             0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5,
             0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551, 32),
    "p384": (ec.SECP384R1(),
             int("fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff", 16),
             -3,
             int("aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7", 16),
             int("3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f", 16),
             int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973", 16), 48),
    "p521": (ec.SECP521R1(), 2**521 - 1, -3,
             int("c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66", 16),
             int("11839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650", 16),
             int("1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409", 16), 66),
}

def add(c, P, Q):
    p, a = c[1], c[2]
    if P is None: return Q
    if Q is None: return P
    if P[0] == Q[0] and (P[1] + Q[1]) % p == 0: return None
    if P == Q:
        l = (3 * P[0] * P[0] + a) * pow(2 * P[1], -1, p) % p
    else:
        l = (Q[1] - P[1]) * pow(Q[0] - P[0], -1, p) % p
    x = (l * l - P[0] - Q[0]) % p
    return (x, (l * (P[0] - x) - P[1]) % p)

def mul(c, k, P):
    R = None
    while k:
        if k & 1: R = add(c, R, P)
        P = add(c, P, P)
        k >>= 1
    return R

def h(v, n): return v.to_bytes(n, "big").hex()

def rand_scalar(c): return int.from_bytes(os.urandom(c[6] + 8), "big") % (c[5] - 1) + 1

def ecdh_x(c, d, P):
    priv = ec.derive_private_key(d, c[0])
    pub = ec.EllipticCurvePublicNumbers(P[0], P[1], c[0]).public_key()
    return priv.exchange(ec.ECDH(), pub).hex()

out = ["# ECC extras and CMAC known answers (ecc_extras_gen.py). Fields hex."]
nist_key = "2b7e151628aed2a6abf7158809cf4f3c"
nist_msg = ("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
            "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
for n, tag in ((0, "bb1d6929e95937287fa37d129b756746"), (16, "070a16b46b4d4144f79bdd9dd04a287c"),
               (40, "dfa66747de9ae63030ca32611497c827"), (64, "51f0bebf7e3b9d92fc49741779363cfe")):
    out += ["", "kind = cmac", f"key = {nist_key}", f"msg = {nist_msg[:2 * n]}", f"tag = {tag}"]
for bits in (128, 192, 256):
    for size in (0, 1, 15, 16, 17, 33, 64, 100):
        key, msg = os.urandom(bits // 8), os.urandom(size)
        with tempfile.NamedTemporaryFile() as f:
            f.write(msg)
            f.flush()
            tag = subprocess.run(["openssl", "mac", "-cipher", f"AES-{bits}-CBC", "-macopt",
                                  f"hexkey:{key.hex()}", "-in", f.name, "CMAC"],
                                 capture_output=True, check=True).stdout.decode().strip().lower()
        out += ["", "kind = cmac", f"key = {key.hex()}", f"msg = {msg.hex()}", f"tag = {tag}"]

for name, c in CURVES.items():
    G, L = (c[3], c[4]), c[6]
    for _ in range(2):
        ds, de = rand_scalar(c), rand_scalar(c)
        QsB, QeB = mul(c, rand_scalar(c), G), mul(c, rand_scalar(c), G)
        Z1, Z2 = mul(c, ds, QsB), mul(c, de, QeB)
        assert h(Z1[0], L) == ecdh_x(c, ds, QsB) and h(Z2[0], L) == ecdh_x(c, de, QeB)
        QsA = mul(c, ds, G)
        out += ["", "kind = zgen2", f"curve = {name}", f"dsa = {h(ds, L)}", f"qsax = {h(QsA[0], L)}",
                f"qsay = {h(QsA[1], L)}", f"dea = {h(de, L)}",
                f"qsbx = {h(QsB[0], L)}", f"qsby = {h(QsB[1], L)}",
                f"qebx = {h(QeB[0], L)}", f"qeby = {h(QeB[1], L)}",
                f"z1x = {h(Z1[0], L)}", f"z1y = {h(Z1[1], L)}",
                f"z2x = {h(Z2[0], L)}", f"z2y = {h(Z2[1], L)}"]
    # Commit: find an s2 whose hash mod p is an x on the curve.
    d, r = rand_scalar(c), rand_scalar(c)
    while True:
        s2 = os.urandom(16)
        x2 = int.from_bytes(hashlib.sha256(s2).digest(), "big") % c[1]
        rhs = (x2 ** 3 + c[2] * x2 + (c[4] ** 2 - c[3] ** 3 - c[2] * c[3]) % c[1]) % c[1]
        assert c[1] % 4 == 3  # all three primes: the square root is one power
        y2 = pow(rhs, (c[1] + 1) // 4, c[1])
        if y2 * y2 % c[1] == rhs:
            break
    P2, P1 = (x2, y2), mul(c, rand_scalar(c), G)
    K, Lp, E = mul(c, d, P2), mul(c, r, P2), mul(c, r, P1)
    out += ["", "kind = commit", f"curve = {name}", f"d = {h(d, L)}", f"r = {h(r, L)}",
            f"s2 = {s2.hex()}", f"y2 = {h(y2, L)}", f"p1x = {h(P1[0], L)}", f"p1y = {h(P1[1], L)}",
            f"kx = {h(K[0], L)}", f"ky = {h(K[1], L)}", f"lx = {h(Lp[0], L)}", f"ly = {h(Lp[1], L)}",
            f"ex = {h(E[0], L)}", f"ey = {h(E[1], L)}"]

open("ecc_extras.txt", "w").write("\n".join(out) + "\n")
