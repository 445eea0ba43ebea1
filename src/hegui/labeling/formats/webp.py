"""WebP: the XMP packet in an ``XMP `` chunk. That needs the extended (VP8X) layout with the
XMP flag set, so a simple lossy/lossless file gets a VP8X header built from its bitstream."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import ClassVar

from hegui.labeling.formats import xmp
from hegui.labeling.formats.base import FormatHandler, Modality, atomic_write, read_bytes
from hegui.labeling.implicit import ImplicitLabel, LabelError, parse_label

FLAG_XMP = 0x04
FLAG_ALPHA = 0x10


def riff_chunks(data: bytes, path: Path, form: bytes) -> list[tuple[bytes, bytes]]:
    """Top-level chunks of a RIFF file of the given form type (WEBP, WAVE)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != form:
        raise LabelError(path, f"not a RIFF/{form.decode()} file")
    out, pos = [], 12
    while pos < len(data):
        if pos + 8 > len(data):
            raise LabelError(path, f"RIFF chunk header truncated at byte {pos}")
        cid, size = struct.unpack("<4sI", data[pos : pos + 8])
        if pos + 8 + size > len(data):
            raise LabelError(path, f"RIFF chunk {cid!r} at byte {pos} runs past the end of the file")
        out.append((cid, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


def riff_build(form: bytes, parts: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(struct.pack("<4sI", c, len(b)) + b + (b"\x00" if len(b) & 1 else b"") for c, b in parts)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + form + body


def _canvas(parts: list[tuple[bytes, bytes]], path: Path) -> tuple[int, int, bool]:
    for cid, body in parts:
        if cid == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
            w, h = struct.unpack("<HH", body[6:10])
            return w & 0x3FFF, h & 0x3FFF, False
        if cid == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
            (bits,) = struct.unpack("<I", body[1:5])
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    raise LabelError(path, "WebP has no readable VP8/VP8L image header")


class WebPHandler(FormatHandler):
    name: ClassVar[str] = "webp"
    modality: ClassVar[Modality] = "image"
    extensions: ClassVar[tuple[str, ...]] = (".webp",)

    def sniff(self, head: bytes, path: Path) -> bool:
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"

    def read(self, path: Path) -> ImplicitLabel | None:
        for cid, body in riff_chunks(read_bytes(path), path, b"WEBP"):
            if cid == b"XMP ":
                try:
                    value = xmp.get_aigc(body.decode("utf-8"))
                except (UnicodeDecodeError, xmp.XMPError) as exc:
                    raise LabelError(path, f"WebP XMP chunk unreadable: {exc}") from None
                if value is not None:
                    return parse_label(value, path)
        return None

    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        parts = riff_chunks(read_bytes(src), src, b"WEBP")
        old = next((b.decode("utf-8", "replace") for c, b in parts if c == b"XMP "), None)
        parts = [(c, b) for c, b in parts if c != b"XMP "]
        if parts[0][0] != b"VP8X":
            w, h, alpha = _canvas(parts, src)
            flags = FLAG_ALPHA if alpha else 0
            vp8x = struct.pack("<B3x", flags) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
            parts.insert(0, (b"VP8X", vp8x))
        hdr = bytearray(parts[0][1])
        if len(hdr) < 10:
            raise LabelError(src, "WebP VP8X chunk too short")
        hdr[0] |= FLAG_XMP
        parts[0] = (b"VP8X", bytes(hdr))
        parts.append((b"XMP ", xmp.set_aigc(old, self.value(label)).encode("utf-8")))  # XMP comes last
        atomic_write(dst, riff_build(b"WEBP", parts))
