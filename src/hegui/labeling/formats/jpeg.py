"""JPEG: the XMP packet in an APP1 segment (``http://ns.adobe.com/xap/1.0/`` header), placed
after the leading APP0/APP1-Exif segments. Entropy-coded data is copied unchanged."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import ClassVar

from hegui.labeling.formats import xmp
from hegui.labeling.formats.base import FormatHandler, Modality, atomic_write, read_bytes
from hegui.labeling.implicit import ImplicitLabel, LabelError, parse_label

XMP_HDR = b"http://ns.adobe.com/xap/1.0/\x00"
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RSTn: no length field


def segments(data: bytes, path: Path) -> tuple[list[tuple[int, bytes]], bytes]:
    """Marker segments before SOS as (marker, payload), and the rest from SOS on."""
    if not data.startswith(b"\xff\xd8"):
        raise LabelError(path, "not a JPEG file (no SOI marker)")
    pos = 2
    out: list[tuple[int, bytes]] = []
    while True:
        if pos + 2 > len(data):
            raise LabelError(path, f"JPEG truncated at byte {pos} before the image data")
        if data[pos] != 0xFF:
            raise LabelError(path, f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA or marker == 0xD9:
            return out, data[pos:]
        if marker in _STANDALONE:
            out.append((marker, b""))
            pos += 2
            continue
        if pos + 4 > len(data):
            raise LabelError(path, f"JPEG truncated in segment header at byte {pos}")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise LabelError(path, f"JPEG segment 0x{marker:02X} at byte {pos} has a bad length")
        out.append((marker, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length


class JPEGHandler(FormatHandler):
    name: ClassVar[str] = "jpeg"
    modality: ClassVar[Modality] = "image"
    extensions: ClassVar[tuple[str, ...]] = (".jpg", ".jpeg")

    def sniff(self, head: bytes, path: Path) -> bool:
        return head.startswith(b"\xff\xd8\xff")

    def read(self, path: Path) -> ImplicitLabel | None:
        segs, _ = segments(read_bytes(path), path)
        for marker, body in segs:
            if marker == 0xE1 and body.startswith(XMP_HDR):
                try:
                    value = xmp.get_aigc(body[len(XMP_HDR) :].decode("utf-8", "strict"))
                except (UnicodeDecodeError, xmp.XMPError) as exc:
                    raise LabelError(path, f"JPEG XMP segment unreadable: {exc}") from None
                if value is not None:
                    return parse_label(value, path)
        return None

    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        segs, rest = segments(read_bytes(src), src)
        old = None
        kept = []
        for marker, body in segs:
            if marker == 0xE1 and body.startswith(XMP_HDR):
                old = body[len(XMP_HDR) :].decode("utf-8", "replace")
                continue
            kept.append((marker, body))
        packet = XMP_HDR + xmp.set_aigc(old, self.value(label)).encode("utf-8")
        if len(packet) + 2 > 0xFFFF:
            raise LabelError(src, "XMP packet too large for one JPEG APP1 segment")
        # after the JFIF/Exif headers, which readers expect first
        at = 0
        while at < len(kept) and kept[at][0] in (0xE0, 0xE1):
            at += 1
        kept.insert(at, (0xE1, packet))
        out = [b"\xff\xd8"]
        for marker, body in kept:
            if marker in _STANDALONE:
                out.append(bytes([0xFF, marker]))
            else:
                out.append(bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body)
        out.append(rest)
        atomic_write(dst, b"".join(out))
