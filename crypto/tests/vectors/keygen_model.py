#!/usr/bin/env python3
"""Independent model of vtpm-crypto's key generation contract, used to check
tests/vectors/keygen_rsa.txt and keygen_ecc.txt.

Written from the contract text (crypto/src/rsa.rs and crypto/src/ecc.rs
module docs) and SP800-90A, not from the Rust code. For every record it
recomputes the outputs from the inputs, and checks them against tools that
share no code with either: `openssl prime` for p and q, n == p * q, and the
`cryptography` package for Q = d * G. It also replays the CAVP CTR_DRBG
vectors of ctr_drbg.txt to check the DRBG model itself.

    python3 crypto/tests/vectors/keygen_model.py   # needs openssl, cryptography
"""
import math
import os
import subprocess
import sys

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

HERE = os.path.dirname(os.path.abspath(__file__))


def aes(key, block):
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


class CtrDrbg:
    """SP800-90A CTR_DRBG, AES-256, derivation function, no PR."""

    SEEDLEN = 48

    @staticmethod
    def df(data):
        s = len(data).to_bytes(4, "big") + (48).to_bytes(4, "big") + data + b"\x80"
        s += b"\0" * (-len(s) % 16)
        k = bytes(range(32))
        temp = b""
        i = 0
        while len(temp) < 48:
            chain = b"\0" * 16
            blocks = i.to_bytes(4, "big") + b"\0" * 12 + s
            for j in range(0, len(blocks), 16):
                chain = aes(k, bytes(a ^ b for a, b in zip(chain, blocks[j:j + 16])))
            temp += chain
            i += 1
        k, x = temp[:32], temp[32:48]
        out = b""
        while len(out) < 48:
            x = aes(k, x)
            out += x
        return out

    def update(self, provided):
        temp = b""
        while len(temp) < 48:
            self.v = (self.v + 1) % (1 << 128)
            temp += aes(self.key, self.v.to_bytes(16, "big"))
        temp = bytes(a ^ b for a, b in zip(temp, provided))
        self.key, self.v = temp[:32], int.from_bytes(temp[32:], "big")

    def __init__(self, entropy, nonce, pers):
        self.key, self.v = b"\0" * 32, 0
        self.update(self.df(entropy + nonce + pers))

    def reseed(self, entropy, add):
        self.update(self.df(entropy + add))

    def generate(self, n, add=b""):
        add = self.df(add) if add else b"\0" * 48
        if any(add):
            self.update(add)
        out = b""
        while len(out) < n:
            self.v = (self.v + 1) % (1 << 128)
            out += aes(self.key, self.v.to_bytes(16, "big"))
        self.update(add)
        return out[:n]


def records(name):
    recs, cur = [], {}
    for line in open(os.path.join(HERE, name)):
        line = line.strip()
        if line.startswith("#"):
            continue
        if not line:
            if cur:
                recs.append(cur)
            cur = {}
            continue
        k, v = line.split("=", 1)
        cur[k.strip()] = v.strip()
    if cur:
        recs.append(cur)
    return recs


def drbg(r):
    return CtrDrbg(bytes.fromhex(r["entropy"]), bytes.fromhex(r["nonce"]), bytes.fromhex(r["pers"]))


# --- RSA contract -----------------------------------------------------------

SMALL_ODD_PRIMES = [p for p in range(3, 17864, 2) if all(p % d for d in range(3, math.isqrt(p) + 1, 2))]
assert len(SMALL_ODD_PRIMES) == 2047 and SMALL_ODD_PRIMES[-1] == 17863
BASES = {1024: 8, 2048: 6, 3072: 5, 4096: 5}
FIRST_PRIMES = [2, 3, 5, 7, 11, 13, 17, 19]


def strong_probable_prime(n, a):
    if a % n == 0:
        return True
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    x = pow(a, d, n)
    if x in (1, n - 1):
        return True
    for _ in range(s - 1):
        x = x * x % n
        if x == n - 1:
            return True
        if x == 1:
            return False
    return False


def gen_prime(rng, bits, e, other):
    k = bits // 2
    for _ in range(20 * bits):
        c = int.from_bytes(rng.generate(k // 8), "big") | (3 << (k - 2)) | 1
        if other is not None and abs(other - c) <= 1 << (k - 100):
            continue
        if math.gcd(c - 1, e) != 1:
            continue
        if any(c % s == 0 for s in SMALL_ODD_PRIMES):
            continue
        if all(strong_probable_prime(c, a) for a in FIRST_PRIMES[:BASES[bits]]):
            return c
    raise RuntimeError("candidate limit")


def rsa_generate(rng, bits, exponent):
    e = 65537 if exponent == 0 else exponent
    p = gen_prime(rng, bits, e, None)
    q = gen_prime(rng, bits, e, p)
    return e, p * q, p, q


def openssl_prime(v):
    out = subprocess.run(["openssl", "prime", "-hex", "%X" % v], capture_output=True, text=True, check=True).stdout
    return out.strip().endswith("is prime")


# --- ECC contract ------------------------------------------------------------

CURVES = {
    "p256": (ec.SECP256R1(), 32, 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551),
    "p384": (ec.SECP384R1(), 48, int("FF" * 24 + "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16)),
    "p521": (ec.SECP521R1(), 66, (1 << 521) - 0x5AE79787C40D069948033FEB708F65A2FC44A36477663B851449048E16EC79BF7),
}


def main():
    failures = 0

    def check(ok, what):
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + what)
        failures += 0 if ok else 1

    for i, r in enumerate(records("ctr_drbg.txt")[:3]):
        d = drbg(r)
        if "entropy_reseed" in r:
            d.reseed(bytes.fromhex(r["entropy_reseed"]), bytes.fromhex(r["add_reseed"]))
        n = len(r["returned"]) // 2
        d.generate(n, bytes.fromhex(r["add1"]))
        check(d.generate(n, bytes.fromhex(r["add2"])).hex() == r["returned"], f"CAVP CTR_DRBG vector {i}")

    for r in records("keygen_rsa.txt"):
        bits, exponent = int(r["bits"]), int(r["exponent"])
        d = drbg(r)
        e, n, p, q = rsa_generate(d, bits, exponent)
        tag = f"RSA-{bits} e={e}"
        check(e == int(r["e"]), tag + ": e")
        check(n.to_bytes(bits // 8, "big").hex() == r["n"], tag + ": n from the model")
        check(p.to_bytes(bits // 16, "big").hex() == r["p"], tag + ": p from the model")
        check(q.to_bytes(bits // 16, "big").hex() == r["q"], tag + ": q from the model")
        check(d.generate(32).hex() == r["next"], tag + ": DRBG output afterwards")
        fp, fq, fn = (int(r[k], 16) for k in ("p", "q", "n"))
        check(fp * fq == fn and fn.bit_length() == bits, tag + ": n == p * q, exact length")
        check(openssl_prime(fp) and openssl_prime(fq), tag + ": openssl prime p, q")
        check(math.gcd(e, (fp - 1) * (fq - 1)) == 1, tag + ": gcd(e, (p-1)(q-1)) == 1")
        check(abs(fp - fq) > 1 << (bits // 2 - 100), tag + ": |p - q| > 2^(bits/2 - 100)")

    for r in records("keygen_ecc.txt"):
        curve, size, order = CURVES[r["curve"]]
        d = drbg(r)
        c = int.from_bytes(d.generate(size + 8), "big")
        priv = c % (order - 1) + 1
        tag = r["curve"]
        check(priv.to_bytes(size, "big").hex() == r["d"], tag + ": d from the model")
        check(d.generate(32).hex() == r["next"], tag + ": DRBG output afterwards")
        pub = ec.derive_private_key(int(r["d"], 16), curve).public_key().public_numbers()
        check(pub.x.to_bytes(size, "big").hex() == r["x"], tag + ": x = (d*G).x (cryptography)")
        check(pub.y.to_bytes(size, "big").hex() == r["y"], tag + ": y = (d*G).y (cryptography)")

    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
