#!/usr/bin/env python3
"""Model of duplication blobs and DUPLICATE seeds; writes duplication.txt.

Written from TPM 2.0 Part 1 (23.3.2 "Symmetric Protection of Duplicated
Objects", 24 "Secret sharing" / KDFa and KDFe of 11.4.10) with the
`cryptography` package for AES-CFB, RSA-OAEP and ECDH, not from the Rust code.
commands/tests/duplication_vectors.rs checks the engine against the file.

    python3 commands/tests/vectors/duplication_model.py > commands/tests/vectors/duplication.txt

Keys and seeds are random at each run; the engine must agree with any run.
"""
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # CFB moved to the "decrepit" module in cryptography 47
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover
    from cryptography.hazmat.primitives.ciphers.modes import CFB

HASH = {0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512"}
CHASH = {0x000B: hashes.SHA256, 0x000C: hashes.SHA384, 0x000D: hashes.SHA512}
ALG_RSA, ALG_ECC, ALG_KEYEDHASH = 0x0001, 0x0023, 0x0008
ALG_AES, ALG_CFB, ALG_NULL, ALG_ECDSA = 0x0006, 0x0043, 0x0010, 0x0018
NIST_P256 = 0x0003
# fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | noDA | restricted | decrypt
STORAGE = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 10) | (1 << 16) | (1 << 17)
# userWithAuth | sensitiveDataOrigin | sign (duplicable)
SIGNER = (1 << 5) | (1 << 6) | (1 << 18)
SEALED = 1 << 6
LABEL = b"DUPLICATE\0"


def u16(v):
    return struct.pack(">H", v)


def b2(data):
    return u16(len(data)) + data


def digest(alg, *parts):
    h = hashlib.new(HASH[alg])
    for p in parts:
        h.update(p)
    return h.digest()


def kdfa(alg, key, label, ctx_u, ctx_v, bits):
    """SP800-108 counter mode with HMAC (Part 1, 11.4.10.2)."""
    out, i = b"", 1
    while len(out) * 8 < bits:
        out += hmac.new(key, struct.pack(">I", i) + label + b"\0" + ctx_u + ctx_v
                        + struct.pack(">I", bits), HASH[alg]).digest()
        i += 1
    return out[: (bits + 7) // 8]


def kdfe(alg, z, label, party_u, party_v, bits):
    """SP800-56A concatenation KDF (Part 1, 11.4.10.3); label with its zero."""
    out, i = b"", 1
    while len(out) * 8 < bits:
        out += digest(alg, struct.pack(">I", i), z, label, party_u, party_v)
        i += 1
    return out[: (bits + 7) // 8]


def cfb(key, data, encrypt=True):
    c = Cipher(algorithms.AES(key), CFB(b"\0" * 16))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def public_area(obj_type, name_alg, attrs, parms, unique):
    return u16(obj_type) + u16(name_alg) + struct.pack(">I", attrs) + b2(b"") + parms + unique


def name_of(name_alg, public):
    return u16(name_alg) + digest(name_alg, public)


def ecc_point(key):
    n = key.public_key().public_numbers()
    return n.x.to_bytes(32, "big"), n.y.to_bytes(32, "big")


def rsa_parent(name_alg, key_bits=128):
    key = rsa.generate_private_key(65537, 2048)
    n = key.public_key().public_numbers().n.to_bytes(256, "big")
    parms = u16(ALG_AES) + u16(key_bits) + u16(ALG_CFB) + u16(ALG_NULL) + u16(2048) + struct.pack(">I", 0)
    pub = public_area(ALG_RSA, name_alg, STORAGE, parms, b2(n))
    return key, pub, key.private_numbers().p.to_bytes(128, "big")


def ecc_parent(name_alg, key_bits=128):
    key = ec.generate_private_key(ec.SECP256R1())
    x, y = ecc_point(key)
    parms = u16(ALG_AES) + u16(key_bits) + u16(ALG_CFB) + u16(ALG_NULL) + u16(NIST_P256) + u16(ALG_NULL)
    pub = public_area(ALG_ECC, name_alg, STORAGE, parms, b2(x) + b2(y))
    d = key.private_numbers().private_value.to_bytes(32, "big")
    return key, pub, d


def parent_sym_bits(pub):
    # TPMT_PUBLIC: type, nameAlg, attributes, authPolicy (empty), then sym.
    return struct.unpack(">H", pub[12:14])[0]


def parent_name_alg(pub):
    return struct.unpack(">H", pub[2:4])[0]


def duplicate(obj_name, name_alg, sensitive, inner_key, parent_pub, seed):
    """Part 1, 23.3.2: inner then outer wrapper."""
    data = b2(sensitive)
    if inner_key is not None:
        data = cfb(inner_key, b2(digest(name_alg, data, obj_name)) + data)
    if parent_pub is not None:
        palg = parent_name_alg(parent_pub)
        sym_key = kdfa(palg, seed, b"STORAGE", obj_name, b"", parent_sym_bits(parent_pub))
        enc = cfb(sym_key, data)
        hmac_key = kdfa(palg, seed, b"INTEGRITY", b"", b"", hashlib.new(HASH[palg]).digest_size * 8)
        data = b2(hmac.new(hmac_key, enc + obj_name, HASH[palg]).digest()) + enc
    return data


def ecc_object(name_alg):
    key = ec.generate_private_key(ec.SECP256R1())
    x, y = ecc_point(key)
    parms = u16(ALG_NULL) + u16(ALG_ECDSA) + u16(0x000B) + u16(NIST_P256) + u16(ALG_NULL)
    pub = public_area(ALG_ECC, name_alg, SIGNER, parms, b2(x) + b2(y))
    d = key.private_numbers().private_value.to_bytes(32, "big")
    sens = u16(ALG_ECC) + b2(b"object auth") + b2(b"") + b2(d)
    return pub, sens


def sealed_object(name_alg):
    data = b"released only to the right TPM"
    seed = os.urandom(hashlib.new(HASH[name_alg]).digest_size)
    unique = digest(name_alg, seed, data)
    pub = public_area(ALG_KEYEDHASH, name_alg, SEALED, u16(ALG_NULL), b2(unique))
    sens = u16(ALG_KEYEDHASH) + b2(b"") + b2(seed) + b2(data)
    return pub, sens


def record(fields):
    for k, v in fields:
        print(f"{k} = {v if isinstance(v, str) else v.hex()}")
    print()


def blob_record(label, obj, name_alg, inner_bits, parent):
    pub, sens = obj
    obj_name = name_of(name_alg, pub)
    inner_key = os.urandom(inner_bits // 8) if inner_bits else None
    parent_pub = parent[1] if parent else None
    seed = os.urandom(hashlib.new(HASH[parent_name_alg(parent_pub)]).digest_size) if parent else None
    blob = duplicate(obj_name, name_alg, sens, inner_key, parent_pub, seed)
    fields = [("name", label), ("kind", "blob"), ("name_alg", u16(name_alg)),
              ("object_public", pub), ("object_name", obj_name), ("sensitive", sens)]
    if inner_key is not None:
        fields.append(("inner_key", inner_key))
    if parent:
        fields += [("parent_public", parent_pub), ("seed", seed)]
    fields.append(("blob", blob))
    record(fields)


def seed_records(label, parent, kind):
    key, pub, secret = parent
    palg = parent_name_alg(pub)
    size = hashlib.new(HASH[palg]).digest_size
    if kind == "rsa":
        seed = os.urandom(size)
        enc = key.public_key().encrypt(seed, padding.OAEP(
            mgf=padding.MGF1(CHASH[palg]()), algorithm=CHASH[palg](), label=LABEL))
    else:
        eph = ec.generate_private_key(ec.SECP256R1())
        z = eph.exchange(ec.ECDH(), key.public_key())
        ex, ey = ecc_point(eph)
        px, _ = ecc_point(key)
        seed = kdfe(palg, z, LABEL, ex, px, size * 8)
        enc = b2(ex) + b2(ey)
    record([("name", label), ("kind", "seed"), ("parent_public", pub),
            ("parent_secret", secret), ("in_sym_seed", enc), ("seed", seed)])


def main():
    print("# Duplication blobs and DUPLICATE seeds (Part 1, 23.3.2 and 24), made by")
    print("# duplication_model.py (read it for the construction); checked by")
    print("# commands/tests/duplication_vectors.rs against vtpm_commands::duplication_*.")
    print("# kind = blob: duplicate = inner(AES-CFB, inner_key; H_nameAlg integrity) then")
    print("#   outer(KDFa(parent nameAlg, seed, STORAGE/INTEGRITY)) of TPM2B(sensitive);")
    print("#   inner_key absent: no inner wrapper; parent_public absent: no outer wrapper.")
    print("# kind = seed: in_sym_seed is RSA-OAEP(label DUPLICATE\\0) of seed, or an ECC")
    print("#   ephemeral point with seed = KDFe(nameAlg, Z, DUPLICATE, eph.x, parent.x).")
    print()
    rsa256 = rsa_parent(0x000B)
    ecc256 = ecc_parent(0x000B)
    ecc384 = ecc_parent(0x000C, 256)
    blob_record("ecc key, outer only, RSA parent", ecc_object(0x000B), 0x000B, 0, rsa256)
    blob_record("ecc key, inner AES-128 and outer, ECC parent", ecc_object(0x000B), 0x000B, 128, ecc256)
    blob_record("ecc key, inner AES-256, no outer (NULL parent)", ecc_object(0x000B), 0x000B, 256, None)
    blob_record("sha384 sealed object, inner AES-128, sha384 AES-256 parent", sealed_object(0x000C), 0x000C, 128, ecc384)
    blob_record("sealed object, no wrappers", sealed_object(0x000B), 0x000B, 0, None)
    seed_records("RSA-2048 parent, OAEP SHA-256", rsa256, "rsa")
    seed_records("ECC P-256 parent, KDFe SHA-256", ecc256, "ecc")
    seed_records("ECC P-256 parent, KDFe SHA-384", ecc384, "ecc")


if __name__ == "__main__":
    main()
