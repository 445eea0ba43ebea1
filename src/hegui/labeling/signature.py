"""Optional signatures in the reserved fields (Annex E leaves ReservedCode1/2 to the parties).

- ReservedCode1: the producer signs ``Label|ContentProducer|ProduceID``, so the signature
  survives later propagation.
- ReservedCode2: a propagator signs every field except ReservedCode2 (including the producer's
  signature), so a chain of custody can be checked.

Encoding: ``ed25519:`` / ``sm2:`` + unpadded base64url of the 64-byte signature (printable
ASCII without space, quote or backslash, as Annex E demands). Ed25519 via ``cryptography``.
SM2 with SM3 (GB/T 32918, default user ID ``1234567812345678``) via the optional pure-Python
``gmssl`` package; its default signing nonce comes from ``random.choice``, which is not a
CSPRNG and would leak the private key, so we always pass our own nonce from ``secrets``.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hegui.labeling.implicit import ImplicitLabel

PREFIX = "ed25519:"
SM2_PREFIX = "sm2:"


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def producer_payload(label: ImplicitLabel) -> bytes:
    return f"{label.label}|{label.content_producer}|{label.produce_id}".encode("ascii")


def propagator_payload(label: ImplicitLabel) -> bytes:
    f = label.fields()
    return "|".join(f[k] for k in f if k != "ReservedCode2").encode("ascii")


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    k = serialization.load_pem_public_key(data)
    if not isinstance(k, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return k


def sign(
    label: ImplicitLabel, key: Ed25519PrivateKey, role: Literal["producer", "propagator"] = "producer"
) -> ImplicitLabel:
    if role == "producer":
        sig = key.sign(producer_payload(label))
        return label.model_copy(update={"reserved_code1": PREFIX + _b64(sig)})
    sig = key.sign(propagator_payload(label))
    return label.model_copy(update={"reserved_code2": PREFIX + _b64(sig)})


def verify(
    label: ImplicitLabel, public: Ed25519PublicKey, role: Literal["producer", "propagator"] = "producer"
) -> bool:
    value = label.reserved_code1 if role == "producer" else label.reserved_code2
    if not value.startswith(PREFIX):
        return False
    try:
        sig = _unb64(value[len(PREFIX) :])
        public.verify(sig, producer_payload(label) if role == "producer" else propagator_payload(label))
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------- SM2 / SM3 (optional)


@dataclass(frozen=True)
class SM2Key:
    private_hex: str  # 64 hex digits
    public_hex: str  # 128 hex digits: x || y


def _gmssl() -> Any:
    try:
        from gmssl import sm2
    except ImportError:
        raise RuntimeError("SM2 signatures need the optional 'gmssl' package (pip install gmssl)") from None
    return sm2


def sm2_generate_key() -> SM2Key:
    sm2 = _gmssl()
    n = int(sm2.default_ecc_table["n"], 16)
    d = secrets.randbelow(n - 2) + 1
    crypt = sm2.CryptSM2(private_key=f"{d:064x}", public_key="")
    return SM2Key(f"{d:064x}", crypt._kg(d, sm2.default_ecc_table["g"]))


def _sm2_payload(label: ImplicitLabel, role: Literal["producer", "propagator"]) -> bytes:
    return producer_payload(label) if role == "producer" else propagator_payload(label)


def sm2_sign(
    label: ImplicitLabel, key: SM2Key, role: Literal["producer", "propagator"] = "producer"
) -> ImplicitLabel:
    sm2 = _gmssl()
    crypt = sm2.CryptSM2(private_key=key.private_hex, public_key=key.public_hex)
    n = int(sm2.default_ecc_table["n"], 16)
    sig = None
    while sig is None:  # the algorithm rejects a few nonces (r = 0, r + k = n, s = 0)
        sig = crypt.sign_with_sm3(_sm2_payload(label, role), f"{secrets.randbelow(n - 1) + 1:064x}")
    value = SM2_PREFIX + _b64(bytes.fromhex(sig))
    field = "reserved_code1" if role == "producer" else "reserved_code2"
    return label.model_copy(update={field: value})


def sm2_verify(
    label: ImplicitLabel, public_hex: str, role: Literal["producer", "propagator"] = "producer"
) -> bool:
    sm2 = _gmssl()
    value = label.reserved_code1 if role == "producer" else label.reserved_code2
    if not value.startswith(SM2_PREFIX):
        return False
    try:
        sig = _unb64(value[len(SM2_PREFIX) :])
    except ValueError:
        return False
    if len(sig) != 64:
        return False
    crypt = sm2.CryptSM2(private_key="", public_key=public_hex)
    try:
        return bool(crypt.verify_with_sm3(sig.hex(), _sm2_payload(label, role)))
    except Exception:  # gmssl raises assorted errors on malformed points
        return False
