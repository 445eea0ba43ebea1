"""MP4/MOV and Matroska through PyAV (FFmpeg), by stream copy: packets are remuxed untouched.

MP4/MOV: ``moov/udta/meta`` with a ``keys`` + ``ilst`` entry ``AIGC`` (TC260 video guide). FFmpeg
writes arbitrary keys there only with ``-movflags use_metadata_tags`` and otherwise drops them
silently, so every write is read back and verified. MKV/WebM: a global ``SimpleTag`` ``AIGC``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from hegui.labeling.formats.base import FormatHandler, Modality, temp_sibling
from hegui.labeling.implicit import ImplicitLabel, LabelError, parse_label


def open_input(path: Path) -> Any:
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise LabelError(path, f"media container unreadable: {exc}") from None


def container_tag(path: Path) -> str | None:
    with open_input(path) as c:
        for k, v in c.metadata.items():
            if k.upper() == "AIGC":
                return str(v)
    return None


def output_options(fmt: str) -> dict[str, str]:
    return {"movflags": "use_metadata_tags"} if fmt in ("mp4", "mov") else {}


def copy_metadata(src_meta: dict[str, str], value: str) -> dict[str, str]:
    meta = {k: v for k, v in src_meta.items() if k.upper() != "AIGC"}
    # FFmpeg's mp4 muxer regenerates these itself
    for k in ("major_brand", "minor_version", "compatible_brands", "encoder"):
        meta.pop(k, None)
    meta["AIGC"] = value
    return meta


def remux(src: Path, dst: Path, fmt: str, metadata: dict[str, str]) -> None:
    import av

    tmp = temp_sibling(dst)
    try:
        with open_input(src) as inp, av.open(str(tmp), "w", format=fmt, options=output_options(fmt)) as out:
            mapping = {}
            for s in inp.streams:
                if s.type in ("video", "audio", "subtitle"):
                    mapping[s.index] = out.add_stream_from_template(s)
            out.metadata.update(metadata)
            for packet in inp.demux(*[inp.streams[i] for i in mapping]):
                if packet.size == 0:  # demux's flush packets; Matroska B-frames legitimately lack a dts
                    continue
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
        os.replace(tmp, dst)
    except av.FFmpegError as exc:
        raise LabelError(src, f"cannot remux: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


class _AVHandler(FormatHandler):
    modality: ClassVar[Modality] = "video"
    fmt: ClassVar[str]

    def read(self, path: Path) -> ImplicitLabel | None:
        value = container_tag(path)
        return None if value is None else parse_label(value, path)

    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        with open_input(src) as c:
            meta = dict(c.metadata)
        suffix = Path(dst).suffix.lower()
        fmt = {".mov": "mov", ".webm": "webm"}.get(suffix, self.fmt)
        remux(src, dst, fmt, copy_metadata(meta, self.value(label)))
        got = self.read(dst)
        if got != label:
            raise LabelError(dst, "the AIGC tag did not survive the write (muxer dropped it)")


class MP4Handler(_AVHandler):
    name: ClassVar[str] = "mp4"
    fmt: ClassVar[str] = "mp4"
    extensions: ClassVar[tuple[str, ...]] = (".mp4", ".mov", ".m4v", ".m4a")

    def sniff(self, head: bytes, path: Path) -> bool:
        return head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free")


class MKVHandler(_AVHandler):
    name: ClassVar[str] = "mkv"
    fmt: ClassVar[str] = "matroska"
    extensions: ClassVar[tuple[str, ...]] = (".mkv", ".mka", ".webm")

    def sniff(self, head: bytes, path: Path) -> bool:
        return head.startswith(b"\x1a\x45\xdf\xa3")
