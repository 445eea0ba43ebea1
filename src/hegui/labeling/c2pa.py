"""Optional C2PA manifests (``c2pa-python``), signed offline with a local certificate chain.

Order matters: the TC260 implicit label is written first, then the asset is signed, so the
manifest's hard binding covers the label (any later edit of the label breaks the binding).
The manifest says the content was created by a trained algorithm (IPTC digital source type
``trainedAlgorithmicMedia``) and carries the Annex E fields in an assertion ``cn.tc260.aigc``.

c2pa refuses a self-signed leaf: operators sign with a leaf issued by their CA.
``generate_certificate_chain`` makes a root + leaf pair for tests and offline trials only.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hegui.labeling.formats import handler_for
from hegui.labeling.formats.base import atomic_write, read_bytes
from hegui.labeling.implicit import ImplicitLabel, LabelError

ASSERTION = "cn.tc260.aigc"
SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MIME = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "mp4": "video/mp4",
}


@dataclass(frozen=True)
class CertificateChain:
    chain_pem: bytes  # leaf first, then the root
    key_pem: bytes  # the leaf's private key (PKCS#8)
    root_pem: bytes


def generate_certificate_chain(organisation: str = "Hegui test", days: int = 30) -> CertificateChain:
    """A P-256 root CA and a leaf for C2PA signing (tests and offline trials only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} root"),
        ]
    )
    leaf_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} signer"),
        ]
    )
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(leaf_name)
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return CertificateChain(
        chain_pem=leaf.public_bytes(pem) + root.public_bytes(pem),
        key_pem=leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        root_pem=root.public_bytes(pem),
    )


def _manifest(label: ImplicitLabel, title: str) -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": "hegui"}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": SOURCE_TYPE}]},
            },
            {"label": ASSERTION, "data": label.fields()},
        ],
    }


def sign_file(
    src: str | Path, dst: str | Path, label: ImplicitLabel, chain: CertificateChain
) -> dict[str, Any]:
    """Write the TC260 label, then embed a signed C2PA manifest; returns the manifest store."""
    import c2pa

    src, dst = Path(src), Path(dst)
    h = handler_for(src)
    mime = MIME.get(h.name)
    if mime is None:
        raise LabelError(src, f"C2PA signing is not offered for {h.name} files")
    h.write(src, dst, label)  # TC260 first: the signature then covers it
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain.chain_pem, chain.key_pem, None)
    try:
        signer = c2pa.Signer.from_info(info)
        builder = c2pa.Builder(json.dumps(_manifest(label, dst.name)))
        out = io.BytesIO()
        with open(dst, "rb") as fh:
            builder.sign(signer, mime, fh, out)
    except c2pa.C2paError as exc:
        raise LabelError(src, f"C2PA signing failed: {exc}") from None
    atomic_write(dst, out.getvalue())
    if h.read(dst) != label:  # signing must not have disturbed the TC260 label
        raise LabelError(dst, "TC260 label lost while embedding the C2PA manifest")
    return read_manifest(dst)


def read_manifest(path: str | Path, trust_anchors_pem: bytes | None = None) -> dict[str, Any]:
    """The manifest store as JSON with ``validation_state`` ("Invalid" / "Valid" / "Trusted"
    when the chain ends in one of ``trust_anchors_pem``); LabelError if there is none."""
    import c2pa

    h = handler_for(path)
    mime = MIME.get(h.name)
    if mime is None:
        raise LabelError(path, f"C2PA reading is not offered for {h.name} files")
    try:
        ctx = None
        if trust_anchors_pem:
            settings = c2pa.Settings.from_dict(
                {
                    "verify": {"verify_trust": True},
                    "trust": {"trust_anchors": trust_anchors_pem.decode("ascii")},
                }
            )
            ctx = c2pa.Context(settings=settings)
        with c2pa.Reader(mime, io.BytesIO(read_bytes(Path(path))), context=ctx) as r:
            return dict(json.loads(r.json()))
    except c2pa.C2paError as exc:
        raise LabelError(path, f"no readable C2PA manifest: {exc}") from None


def tc260_assertion(store: dict[str, Any]) -> dict[str, str] | None:
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    for a in active.get("assertions", []):
        if a.get("label") == ASSERTION:
            return dict(a.get("data", {}))
    return None
