"""WAV: a RIFF sub-chunk with id ``AIGC`` holding the bare label object (TC260 audio guide).
Appended after the existing chunks; samples are copied unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from hegui.labeling.formats.base import FormatHandler, Modality, atomic_write, read_bytes
from hegui.labeling.formats.webp import riff_build, riff_chunks
from hegui.labeling.implicit import ImplicitLabel, LabelError, parse_label


class WAVHandler(FormatHandler):
    name: ClassVar[str] = "wav"
    modality: ClassVar[Modality] = "audio"
    extensions: ClassVar[tuple[str, ...]] = (".wav",)

    def sniff(self, head: bytes, path: Path) -> bool:
        return head[:4] == b"RIFF" and head[8:12] == b"WAVE"

    def read(self, path: Path) -> ImplicitLabel | None:
        parts = riff_chunks(read_bytes(path), path, b"WAVE")
        if not any(c == b"fmt " for c, _ in parts):
            raise LabelError(path, "WAV has no fmt chunk")
        for cid, body in parts:
            if cid == b"AIGC":
                return parse_label(body, path)
        return None

    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        parts = [(c, b) for c, b in riff_chunks(read_bytes(src), src, b"WAVE") if c != b"AIGC"]
        parts.append((b"AIGC", self.value(label).encode("ascii")))
        atomic_write(dst, riff_build(b"WAVE", parts))
