#!/usr/bin/env python3
"""Independent check of commands/tests/vectors/primary.txt.

Written from the derivation contract at the top of commands/src/object/create.rs
and TPM 2.0 Part 1/2, not from the Rust code. For every record it:

1. checks the inputs: seed = SHA-512(seed_label), 64 bytes; the template parses
   as a TPMT_PUBLIC; the relation records (only_*_differs_from) differ from
   their base exactly as they say;
2. checks the expected public area from outside: the same bytes as the template
   up to the unique field; RSA: n is bits/8 octets, top bit set, odd, no prime
   factor below 100 000; ECC: (x, y) is on the curve (the `cryptography`
   package, OpenSSL, refuses a point that is not); keyed-hash / symcipher:
   unique is one nameAlg digest long;
3. recomputes the whole derivation with its own model: Name = nameAlg ||
   H(template); material = KDFa(nameAlg, seed, "vtpm primary object", Name,
   H(data), 384); CTR_DRBG(material, "", "vtpm primary"); then the key
   generation model of crypto/tests/vectors/keygen_model.py (itself checked
   against CAVP vectors, `openssl prime` and `cryptography`). RSA primes p, q
   that the model finds are checked with `openssl prime` and n == p * q;
   ECC: (x, y) == d * G by `cryptography`; keyed-hash / symcipher: the key is
   drawn first, then the seedValue, and unique = H(seedValue || key).

    python3 commands/tests/vectors/primary_model.py   # needs openssl, cryptography
"""
import hashlib
import hmac
import os
import sys

from cryptography.hazmat.primitives.asymmetric import ec

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "crypto", "tests", "vectors"))
import keygen_model as km  # noqa: E402

HASHES = {0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512"}
CURVES = {3: "p256", 4: "p384", 5: "p521"}
NULL = 0x0010


def records(path):
    recs, cur = [], {}
    for line in open(path):
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


def parse(t):
    """TPMT_PUBLIC (Part 2, 12.2.4) -> dict with the prefix before unique."""
    pos = 0

    def u(n):
        nonlocal pos
        v = int.from_bytes(t[pos:pos + n], "big")
        pos += n
        return v

    def b2():
        nonlocal pos
        n = u(2)
        v = t[pos:pos + n]
        pos += n
        return v

    o = {"type": u(2), "name_alg": u(2), "attrs": u(4), "policy": b2()}

    def sym():
        alg = u(2)
        return (alg, u(2), u(2)) if alg != NULL else (alg,)

    def scheme():
        alg = u(2)
        return (alg, u(2)) if alg != NULL else (alg,)

    if o["type"] == 0x0001:
        o["sym"], o["scheme"], o["bits"], o["exponent"] = sym(), scheme(), u(2), u(4)
        o["prefix"] = t[:pos]
        o["unique"] = [b2()]
    elif o["type"] == 0x0023:
        o["sym"], o["scheme"], o["curve"], o["kdf"] = sym(), scheme(), u(2), scheme()
        o["prefix"] = t[:pos]
        o["unique"] = [b2(), b2()]
    elif o["type"] == 0x0008:
        o["scheme"] = scheme()
        o["prefix"] = t[:pos]
        o["unique"] = [b2()]
    elif o["type"] == 0x0025:
        o["sym"] = sym()
        o["prefix"] = t[:pos]
        o["unique"] = [b2()]
    else:
        raise ValueError("type")
    assert pos == len(t), "trailing bytes"
    return o


def kdfa(hname, key, label, ctx_u, ctx_v, bits):
    """Part 1, 11.4.10.2: HMAC(key, [i]32 || label || 00 || U || V || [bits]32)."""
    out, i = b"", 1
    while len(out) * 8 < bits:
        msg = i.to_bytes(4, "big") + label + b"\0" + ctx_u + ctx_v + bits.to_bytes(4, "big")
        out += hmac.new(key, msg, hname).digest()
        i += 1
    return out[:bits // 8]


SMALL_PRIMES = [p for p in range(2, 100000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]


def main():
    failures = 0

    def check(ok, what):
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + what)
        failures += 0 if ok else 1

    recs = records(os.path.join(HERE, "primary.txt"))
    by_name = {r["name"]: r for r in recs}
    check(len(by_name) == len(recs) == 17, "17 records, distinct names")
    for r in recs:
        tag = r["name"]
        seed, data = bytes.fromhex(r["seed"]), bytes.fromhex(r["data"])
        tmpl, pub = bytes.fromhex(r["template"]), bytes.fromhex(r["public"])
        check(len(seed) == 64 and seed == hashlib.sha512(r["seed_label"].encode()).digest(),
              tag + ": seed = SHA-512(seed_label)")
        t, p = parse(tmpl), parse(pub)
        check(p["prefix"] == t["prefix"], tag + ": public = template up to unique")
        hname = HASHES[t["name_alg"]]
        dsize = hashlib.new(hname).digest_size

        for what in ("unique", "seed", "data"):
            base = r.get(f"only_{what}_differs_from")
            if base:
                b = by_name[base]
                bt = parse(bytes.fromhex(b["template"]))
                same = (bt["prefix"] == t["prefix"],
                        (bt["unique"] == t["unique"]) != (what == "unique"),
                        (b["seed"] == r["seed"]) != (what == "seed"),
                        (b["data"] == r["data"]) != (what == "data"))
                check(all(same), f"{tag}: differs from {base} only in {what}")
                check(parse(bytes.fromhex(b["public"]))["unique"][0] != p["unique"][0],
                      f"{tag}: a different key than {base}")

        # --- from outside ---------------------------------------------------
        if t["type"] == 0x0001:
            bits = t["bits"]
            n_bytes = p["unique"][0]
            n = int.from_bytes(n_bytes, "big")
            check(len(n_bytes) == bits // 8 and n.bit_length() == bits and n % 2 == 1,
                  f"{tag}: n is {bits} bits, top bit set, odd")
            check(all(n % s for s in SMALL_PRIMES), f"{tag}: n has no prime factor < 100000")
        elif t["type"] == 0x0023:
            cname = CURVES[t["curve"]]
            curve, size, order = km.CURVES[cname]
            x, y = p["unique"]
            check(len(x) == len(y) == size, f"{tag}: x, y are {size} octets")
            try:
                ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                              curve).public_key()
                on_curve = True
            except ValueError:
                on_curve = False
            check(on_curve, f"{tag}: (x, y) on {cname} (cryptography)")
        else:
            check(len(p["unique"][0]) == dsize, f"{tag}: unique is one {hname} digest")

        # --- the model ------------------------------------------------------
        name = tmpl[2:4] + hashlib.new(hname, tmpl).digest()
        material = kdfa(hname, seed, b"vtpm primary object", name,
                        hashlib.new(hname, data).digest(), 384)
        rng = km.CtrDrbg(material, b"", b"vtpm primary")
        if t["type"] == 0x0001:
            e, n, pp, qq = km.rsa_generate(rng, t["bits"], t["exponent"])
            check(n.to_bytes(t["bits"] // 8, "big") == p["unique"][0], f"{tag}: n from the model")
            check(pp * qq == n and km.openssl_prime(pp) and km.openssl_prime(qq),
                  f"{tag}: model's p, q prime (openssl), n == p * q")
        elif t["type"] == 0x0023:
            curve, size, order = km.CURVES[CURVES[t["curve"]]]
            d = int.from_bytes(rng.generate(size + 8), "big") % (order - 1) + 1
            q = ec.derive_private_key(d, curve).public_key().public_numbers()
            check([q.x.to_bytes(size, "big"), q.y.to_bytes(size, "big")] == p["unique"],
                  f"{tag}: (x, y) = d * G from the model (cryptography)")
        else:
            origin = t["attrs"] & 0x20
            if not origin:
                key = data
            elif t["type"] == 0x0025:
                key = rng.generate(t["sym"][1] // 8)
            else:
                kh = HASHES.get(t["scheme"][1], hname) if t["scheme"][0] != NULL else hname
                key = rng.generate(hashlib.new(kh).digest_size)
            seed_value = rng.generate(dsize)
            check(hashlib.new(hname, seed_value + key).digest() == p["unique"][0],
                  f"{tag}: unique = H(seedValue || key) from the model")

    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
