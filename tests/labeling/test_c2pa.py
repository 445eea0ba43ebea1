from __future__ import annotations

from pathlib import Path

import pytest

from hegui.labeling import ImplicitLabel, LabelError, detect_file
from hegui.labeling import c2pa as hc
from hegui.labeling.formats import handler_for

from .media import PLATFORM, PRODUCER, write_image


@pytest.fixture(scope="module")
def chain() -> hc.CertificateChain:
    return hc.generate_certificate_chain()


@pytest.mark.parametrize("fmt, name", [("JPEG", "a.jpg"), ("PNG", "a.png")])
def test_sign_after_tc260_and_verify(fmt: str, name: str, tmp_path: Path, chain: hc.CertificateChain) -> None:
    src = write_image(tmp_path / name, fmt)
    out = tmp_path / ("signed-" + name)
    lab = ImplicitLabel.for_producer(PRODUCER, "c2pa-1")
    store = hc.sign_file(src, out, lab, chain)
    assert hc.tc260_assertion(store) == lab.fields()
    active = store["manifests"][store["active_manifest"]]
    actions = next(a for a in active["assertions"] if a["label"].startswith("c2pa.actions"))
    assert actions["data"]["actions"][0]["digitalSourceType"] == hc.SOURCE_TYPE
    # our own root as trust anchor: the chain verifies; without it, valid but untrusted
    assert hc.read_manifest(out, chain.root_pem)["validation_state"] == "Trusted"
    assert hc.read_manifest(out)["validation_state"] == "Valid"
    # the TC260 label is intact and still what platforms read first
    d = detect_file(out)
    assert d.implicit == lab.fields() and d.verdict == "1"

    # editing the label after signing breaks the manifest's hard binding
    handler_for(out).write(out, out, lab.model_copy(update={"content_propagator": PLATFORM}))
    assert hc.read_manifest(out, chain.root_pem)["validation_state"] == "Invalid"


def test_unsupported_and_missing(tmp_path: Path, chain: hc.CertificateChain) -> None:
    p = tmp_path / "a.txt"
    p.write_text("x")
    with pytest.raises(LabelError, match="not offered"):
        hc.sign_file(p, p, ImplicitLabel.for_producer(PRODUCER), chain)
    img = write_image(tmp_path / "b.png", "PNG")
    with pytest.raises(LabelError, match="no readable C2PA"):
        hc.read_manifest(img)
