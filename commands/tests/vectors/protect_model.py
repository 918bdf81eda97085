#!/usr/bin/env python3
"""Model of TPM2B_PRIVATE and TPM2B_ID_OBJECT protection; writes protection.txt.

Written from TPM 2.0 Part 1 (23.3 "Protected Storage": 23.3.2.4 symmetric
encryption with the "STORAGE" key, 23.3.2.5 the outer HMAC with the
"INTEGRITY" key; 24.4 / 24.5 "Credential Protection": the TPMS_ID_OBJECT is
made the same way with the seed in place of the parent's seedValue and the
Name of the certified object), not from the Rust code. The primitives (KDFa
of 11.4.10.2, AES-CFB with a zero IV, marshalling) are those of
duplication_model.py beside it. commands/tests/protection_vectors.rs checks
the engine against the file.

    python3 commands/tests/vectors/protect_model.py > commands/tests/vectors/protection.txt

Keys, seeds and secrets are random at each run; the engine must agree with any run.
"""
import hashlib
import hmac
import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the vectors
from duplication_model import (ALG_AES, ALG_CFB, HASH, b2, cfb,  # noqa: E402
                               ecc_object, ecc_parent, kdfa, name_of, public_area, record,
                               rsa_parent, sealed_object, u16)

ALG_SYMCIPHER = 0x0025
# fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | decrypt
SYM_STORAGE = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 16) | (1 << 17)


def symcipher_parent(name_alg, key_bits):
    """A symmetric storage parent (Part 1, 27.2): TPMT_SYM_DEF_OBJECT parms."""
    unique = os.urandom(hashlib.new(HASH[name_alg]).digest_size)
    parms = u16(ALG_AES) + u16(key_bits) + u16(ALG_CFB)
    return None, public_area(ALG_SYMCIPHER, name_alg, SYM_STORAGE, parms, b2(unique)), None


def protection(pub):
    """nameAlg and symmetric key bits of a storage key's TPMT_PUBLIC: after
    type, nameAlg, attributes and the (empty) authPolicy comes TPMT_SYM_DEF_OBJECT."""
    name_alg, = struct.unpack(">H", pub[2:4])
    assert pub[8:10] == b"\0\0", "model keys have an empty authPolicy"
    sym_alg, bits, mode = struct.unpack(">HHH", pub[10:16])
    assert (sym_alg, mode) == (ALG_AES, ALG_CFB)
    return name_alg, bits


def protect(name_alg, key_bits, seed, name, payload):
    """Part 1, 23.3.2.4/5: encIdentity or encSensitive = CFB(KDFa(nameAlg, seed,
    "STORAGE", name, "", keyBits), IV 0, payload); integrity = HMAC(KDFa(nameAlg,
    seed, "INTEGRITY", "", "", digest bits), enc || name); out = TPM2B(integrity) || enc."""
    sym_key = kdfa(name_alg, seed, b"STORAGE", name, b"", key_bits)
    enc = cfb(sym_key, payload)
    size = hashlib.new(HASH[name_alg]).digest_size
    hmac_key = kdfa(name_alg, seed, b"INTEGRITY", b"", b"", size * 8)
    return b2(hmac.new(hmac_key, enc + name, HASH[name_alg]).digest()) + enc


def private_record(label, parent, obj, obj_alg):
    """A child's TPM2B_PRIVATE: the payload is TPM2B_SENSITIVE; the seed is the
    parent's seedValue (a nameAlg digest); the name the child's."""
    _, ppub, _ = parent
    palg, bits = protection(ppub)
    pub, sens = obj
    name = name_of(obj_alg, pub)
    seed = os.urandom(hashlib.new(HASH[palg]).digest_size)
    private = protect(palg, bits, seed, name, b2(sens))
    # Self-check: the model opens its own blob.
    integrity_size, = struct.unpack(">H", private[:2])
    enc = private[2 + integrity_size:]
    plain = cfb(kdfa(palg, seed, b"STORAGE", name, b"", bits), enc, encrypt=False)
    assert plain == b2(sens)
    record([("name", label), ("kind", "private"), ("parent_public", ppub),
            ("parent_seed", seed), ("object_public", pub), ("object_name", name),
            ("sensitive", sens), ("private", private)])


def id_object_record(label, key, object_name, credential):
    """MakeCredential's credentialBlob: the payload is TPM2B_DIGEST(credential);
    the seed is the one shared with the key under the label "IDENTITY"; the
    name that of the object the credential is bound to."""
    _, kpub, _ = key
    kalg, bits = protection(kpub)
    assert len(credential) <= hashlib.new(HASH[kalg]).digest_size
    seed = os.urandom(hashlib.new(HASH[kalg]).digest_size)
    blob = protect(kalg, bits, seed, object_name, b2(credential))
    record([("name", label), ("kind", "id_object"), ("key_public", kpub),
            ("seed", seed), ("object_name", object_name), ("credential", credential),
            ("id_object", blob)])


def main():
    print("# TPM2B_PRIVATE and TPM2B_ID_OBJECT protection (Part 1, 23.3.2.4/5 and 24.4/5),")
    print("# made by protect_model.py (read it for the construction); checked by")
    print("# commands/tests/protection_vectors.rs against vtpm_commands::private_blob,")
    print("# private_sensitive, credential_blob and credential_from_blob.")
    print("# Both are TPM2B(HMAC(KDFa(nameAlg, seed, INTEGRITY, , , digest bits), enc || name)) || enc")
    print("#   with enc = AES-CFB(KDFa(nameAlg, seed, STORAGE, name, , keyBits), IV 0, payload),")
    print("#   nameAlg and keyBits those of the parent (private) or key (id_object).")
    print("# kind = private: payload TPM2B(sensitive), seed the parent's seedValue, name the")
    print("#   child's; `private` is the TPM2B_PRIVATE buffer (without its size).")
    print("# kind = id_object: payload TPM2B(credential), seed the IDENTITY seed, name the")
    print("#   certified object's; `id_object` is the TPM2B_ID_OBJECT buffer (without its size).")
    print()
    rsa256_128 = rsa_parent(0x000B, 128)
    rsa384_256 = rsa_parent(0x000C, 256)
    ecc256_128 = ecc_parent(0x000B, 128)
    ecc384_256 = ecc_parent(0x000C, 256)
    ecc256_256 = ecc_parent(0x000B, 256)
    sym384_128 = symcipher_parent(0x000C, 128)
    sym256_256 = symcipher_parent(0x000B, 256)

    private_record("ecc key under RSA SHA-256 AES-128 parent", rsa256_128, ecc_object(0x000B), 0x000B)
    private_record("sealed object under RSA SHA-384 AES-256 parent", rsa384_256, sealed_object(0x000B), 0x000B)
    private_record("sha384 sealed object under ECC SHA-256 AES-128 parent", ecc256_128,
                   sealed_object(0x000C), 0x000C)
    private_record("ecc key under ECC SHA-384 AES-256 parent", ecc384_256, ecc_object(0x000B), 0x000B)
    private_record("sealed object under symcipher SHA-384 AES-128 parent", sym384_128,
                   sealed_object(0x000B), 0x000B)
    private_record("sha384 sealed object under symcipher SHA-256 AES-256 parent", sym256_256,
                   sealed_object(0x000C), 0x000C)

    ak256 = name_of(0x000B, ecc_object(0x000B)[0])
    ak384 = name_of(0x000C, sealed_object(0x000C)[0])
    id_object_record("RSA SHA-256 AES-128 EK, 32-byte credential", rsa256_128, ak256, os.urandom(32))
    id_object_record("RSA SHA-384 AES-256 EK, 16-byte credential", rsa384_256, ak384, os.urandom(16))
    id_object_record("ECC SHA-256 AES-128 EK, 1-byte credential", ecc256_128, ak256, b"\x5a")
    id_object_record("ECC SHA-384 AES-256 EK, 48-byte credential, sha384 name", ecc384_256, ak384,
                     os.urandom(48))
    id_object_record("ECC SHA-256 AES-256 EK, text credential", ecc256_256, ak384, b"vtpm credential")
    id_object_record("ECC SHA-256 AES-128 EK, empty credential", ecc256_128, ak256, b"")


if __name__ == "__main__":
    main()
