"""Implicit label round trips for every container, on real files."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hegui.labeling.formats import handler_for
from hegui.labeling.implicit import ImplicitLabel, LabelError

from .formats_cases import CASES
from .media import PLATFORM, PRODUCER


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b))
    return a == b


def _occurrences(path: Path) -> int:
    data = path.read_bytes()
    if data.startswith(b"PK"):
        with zipfile.ZipFile(path) as z:
            return z.read("docProps/custom.xml").count(b"ContentProducer")
    return data.count(b"ContentProducer")


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip(case: str, tmp_path: Path) -> None:
    name, make, content = CASES[case]
    src = make(tmp_path / name)
    before = content(src)
    h = handler_for(src)
    assert h.read(src) is None

    out = tmp_path / "out" / name
    out.parent.mkdir()
    first = ImplicitLabel.for_producer(PRODUCER, "id-1")
    h.write(src, out, first)
    assert h.read(out) == first
    assert h.read(src) is None  # the source was not touched
    assert _same(content(out), before), "media content changed"
    once = _occurrences(out)
    assert once >= 1

    # second labeling (a platform re-labels) overwrites, never appends
    second = first.model_copy(update={"content_propagator": PLATFORM, "propagate_id": "p-2"})
    h.write(out, out, second)
    assert h.read(out) == second
    assert _occurrences(out) == once
    assert _same(content(out), before)


def test_png_layout_and_pillow_sees_xmp(tmp_path: Path) -> None:
    from PIL import Image

    src = CASES["png"][1](tmp_path / "a.png")
    h = handler_for(src)
    h.write(src, src, ImplicitLabel.for_producer(PRODUCER, "x"))
    data = src.read_bytes()
    # iTXt immediately after IHDR (8 sig + 25 IHDR)
    assert data[37:41] == b"iTXt" and b"XML:com.adobe.xmp" in data[41:60]
    with Image.open(src) as im:
        xmp = im.info.get("XML:com.adobe.xmp", "")
    assert "http://www.tc260.org.cn/ns/AIGC/1.0/" in xmp and "TC260:AIGC" in xmp


def test_jpeg_xmp_read_by_pillow(tmp_path: Path) -> None:
    from PIL import Image

    src = CASES["jpeg"][1](tmp_path / "a.jpg")
    handler_for(src).write(src, src, ImplicitLabel.for_producer(PRODUCER, "x"))
    import xml.etree.ElementTree as ET

    with Image.open(src) as im:
        raw = im.info["xmp"]  # Pillow finds the APP1 XMP segment
    root = ET.fromstring(raw.decode("utf-8").split("?>", 1)[1].rsplit("<?xpacket", 1)[0])
    assert root.tag == "{adobe:ns:meta/}xmpmeta"
    assert b"TC260:AIGC" in raw


def test_webp_gets_vp8x_with_xmp_flag(tmp_path: Path) -> None:
    src = CASES["webp-lossy"][1](tmp_path / "a.webp")
    handler_for(src).write(src, src, ImplicitLabel.for_producer(PRODUCER, "x"))
    data = src.read_bytes()
    assert data[12:16] == b"VP8X" and data[20] & 0x04
    w = int.from_bytes(data[24:27], "little") + 1
    h = int.from_bytes(data[27:30], "little") + 1
    assert (w, h) == (320, 240)
    assert data.rstrip(b"\x00").endswith(b'</x:xmpmeta><?xpacket end="w"?>')


def _boxes(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    out, pos = {}, start
    while pos + 8 <= end:
        size, typ = struct.unpack(">I4s", data[pos : pos + 8])
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        out[typ] = (pos + hdr, pos + size)
        pos += size
    return out


@pytest.mark.parametrize("case", ["mp4", "mov"])
def test_mp4_label_is_in_moov_udta_meta_keys(case: str, tmp_path: Path) -> None:
    name, make, _ = CASES[case]
    src = make(tmp_path / name)
    handler_for(src).write(src, src, ImplicitLabel.for_producer(PRODUCER, "x"))
    data = src.read_bytes()
    moov = _boxes(data, 0, len(data))[b"moov"]
    udta = _boxes(data, *moov)[b"udta"]
    meta = _boxes(data, *udta)[b"meta"]
    inner = _boxes(data, meta[0] + 4, meta[1])  # meta is a full box: skip version/flags
    assert b"keys" in inner and b"ilst" in inner
    assert b"AIGC" in data[slice(*inner[b"keys"])]
    assert b"ContentProducer" in data[slice(*inner[b"ilst"])]


def test_xlsx_custom_property_seen_by_openpyxl(tmp_path: Path) -> None:
    import openpyxl

    src = CASES["xlsx"][1](tmp_path / "a.xlsx")
    lab = ImplicitLabel.for_producer(PRODUCER, "x")
    handler_for(src).write(src, src, lab)
    wb = openpyxl.load_workbook(src)
    props = {p.name: p.value for p in wb.custom_doc_props.props}
    assert props["AIGC"] == lab.to_json(wrapped=False)


def test_pdf_info_and_xmp(tmp_path: Path) -> None:
    from pypdf import PdfReader

    src = CASES["pdf"][1](tmp_path / "a.pdf")
    lab = ImplicitLabel.for_producer(PRODUCER, "x")
    handler_for(src).write(src, src, lab)
    r = PdfReader(src)
    assert r.metadata["/AIGC"] == lab.to_json(wrapped=False)
    xmp = r.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b"TC260:AIGC" in xmp


def test_markdown_front_matter_kept(tmp_path: Path) -> None:
    src = CASES["markdown"][1](tmp_path / "a.md")
    handler_for(src).write(src, src, ImplicitLabel.for_producer(PRODUCER, "x"))
    import yaml

    fm = yaml.safe_load(src.read_text("utf-8").split("---\n")[1])
    assert fm["title"] == "测试" and '"Label":"1"' in fm["AIGC"]


def test_text_trailer_and_sidecar(tmp_path: Path) -> None:
    p = tmp_path / "s.txt"
    p.write_text("正文\n", encoding="utf-8")
    h = handler_for(p)
    lab = ImplicitLabel.for_producer(PRODUCER, "x")
    (tmp_path / "s.txt.aigc.json").write_text(lab.to_json())
    assert h.read(p) == lab  # sidecar
    h.write(p, p, lab)
    assert p.read_text("utf-8").splitlines()[-1] == "AIGC=" + lab.to_json(wrapped=True)


def test_unknown_format_is_a_label_error(tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(b"\x00" * 10)
    with pytest.raises(LabelError, match="unsupported"):
        handler_for(p)
    with pytest.raises(LabelError, match="cannot open"):
        handler_for(tmp_path / "missing.png")
