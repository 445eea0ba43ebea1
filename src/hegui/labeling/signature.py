"""Optional signatures in the reserved fields (Annex E leaves ReservedCode1/2 to the parties).

- ReservedCode1: the producer signs ``Label|ContentProducer|ProduceID``, so the signature
  survives later propagation.
- ReservedCode2: a propagator signs every field except ReservedCode2 (including the producer's
  signature), so a chain of custody can be checked.

Encoding: ``ed25519:`` + unpadded base64url of the 64-byte signature (printable ASCII without
space, quote or backslash, as Annex E demands). Ed25519 via ``cryptography``; SM2 is not
offered because no vetted SM2/SM3 package is in the dependency set.
"""

from __future__ import annotations

import base64
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hegui.labeling.implicit import ImplicitLabel

PREFIX = "ed25519:"


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
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    k = serialization.load_pem_public_key(data)
    if not isinstance(k, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return k


def sign(label: ImplicitLabel, key: Ed25519PrivateKey, role: Literal["producer", "propagator"] = "producer") -> ImplicitLabel:
    if role == "producer":
        sig = key.sign(producer_payload(label))
        return label.model_copy(update={"reserved_code1": PREFIX + _b64(sig)})
    sig = key.sign(propagator_payload(label))
    return label.model_copy(update={"reserved_code2": PREFIX + _b64(sig)})


def verify(label: ImplicitLabel, public: Ed25519PublicKey, role: Literal["producer", "propagator"] = "producer") -> bool:
    value = label.reserved_code1 if role == "producer" else label.reserved_code2
    if not value.startswith(PREFIX):
        return False
    try:
        sig = _unb64(value[len(PREFIX) :])
        public.verify(sig, producer_payload(label) if role == "producer" else propagator_payload(label))
    except (InvalidSignature, ValueError):
        return False
    return True
