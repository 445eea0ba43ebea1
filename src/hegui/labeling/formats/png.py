"""PNG: the XMP packet in an ``iTXt`` chunk with keyword ``XML:com.adobe.xmp``, placed right
after IHDR. Chunk-level rewrite, so pixel data is copied byte for byte."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import ClassVar

from hegui.labeling.formats import xmp
from hegui.labeling.formats.base import MAX_META, FormatHandler, Modality, atomic_write, read_bytes
from hegui.labeling.implicit import ImplicitLabel, LabelError, parse_label

SIG = b"\x89PNG\r\n\x1a\n"
XMP_KEY = b"XML:com.adobe.xmp"


def chunks(data: bytes, path: Path) -> list[tuple[bytes, bytes]]:
    if not data.startswith(SIG):
        raise LabelError(path, "not a PNG file (bad signature)")
    out: list[tuple[bytes, bytes]] = []
    pos = len(SIG)
    while True:
        if pos + 8 > len(data):
            raise LabelError(path, f"PNG truncated at byte {pos} (no IEND chunk)")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 8 + length + 4
        if length > 0x7FFFFFFF or end > len(data):
            raise LabelError(path, f"PNG chunk {ctype!r} at byte {pos} runs past the end of the file")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : end])
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
            raise LabelError(path, f"PNG chunk {ctype!r} at byte {pos} has a bad CRC")
        out.append((ctype, body))
        pos = end
        if ctype == b"IEND":
            return out


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I4s", len(body), ctype)
        + body
        + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)
    )


def _itxt_text(body: bytes, path: Path) -> tuple[bytes, str]:
    key, sep, rest = body.partition(b"\x00")
    if not sep or len(rest) < 2:
        raise LabelError(path, "malformed PNG iTXt chunk")
    comp_flag, rest = rest[0], rest[2:]
    _lang, _, rest = rest.partition(b"\x00")
    _tkey, _, text = rest.partition(b"\x00")
    if comp_flag:
        d = zlib.decompressobj()
        try:
            text = d.decompress(text, MAX_META)
        except zlib.error as exc:
            raise LabelError(path, f"PNG iTXt chunk does not decompress: {exc}") from None
        if d.unconsumed_tail:
            raise LabelError(path, "PNG iTXt chunk decompresses to more than 16 MiB")
    try:
        return key, text.decode("utf-8")
    except UnicodeDecodeError:
        raise LabelError(path, "PNG iTXt text is not UTF-8") from None


class PNGHandler(FormatHandler):
    name: ClassVar[str] = "png"
    modality: ClassVar[Modality] = "image"
    extensions: ClassVar[tuple[str, ...]] = (".png",)

    def sniff(self, head: bytes, path: Path) -> bool:
        return head.startswith(SIG)

    def read(self, path: Path) -> ImplicitLabel | None:
        for ctype, body in chunks(read_bytes(path), path):
            if ctype == b"iTXt":
                key, text = _itxt_text(body, path)
                if key == XMP_KEY:
                    try:
                        value = xmp.get_aigc(text)
                    except xmp.XMPError as exc:
                        raise LabelError(path, str(exc)) from None
                    if value is not None:
                        return parse_label(value, path)
                elif key == b"AIGC":  # some tools write a plain text chunk named AIGC
                    return parse_label(text, path)
        return None

    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        parts = chunks(read_bytes(src), src)
        old_packet = None
        kept = []
        for ctype, body in parts:
            if ctype == b"iTXt":
                key, text = _itxt_text(body, src)
                if key == XMP_KEY:
                    old_packet = text
                    continue
                if key == b"AIGC":
                    continue
            kept.append((ctype, body))
        packet = xmp.set_aigc(old_packet, self.value(label)).encode("utf-8")
        itxt = _chunk(b"iTXt", XMP_KEY + b"\x00\x00\x00\x00\x00" + packet)
        out = [SIG, _chunk(*kept[0]), itxt] + [_chunk(t, b) for t, b in kept[1:]]
        atomic_write(dst, b"".join(out))
