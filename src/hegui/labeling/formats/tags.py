"""Audio tags through mutagen: MP3 ID3v2 ``TXXX`` described ``AIGC`` (TC260 audio guide);
FLAC and Ogg (Vorbis/Opus) a native Vorbis comment ``AIGC`` (our choice: the container's own
tag system, which every player and ``ffprobe`` shows)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

from hegui.labeling.formats.base import FormatHandler, Modality
from hegui.labeling.implicit import ImplicitLabel, LabelError, parse_label


def _copy(src: Path, dst: Path) -> None:
    if Path(src).resolve() != Path(dst).resolve():
        shutil.copyfile(src, dst)


class MP3Handler(FormatHandler):
    name: ClassVar[str] = "mp3"
    modality: ClassVar[Modality] = "audio"
    extensions: ClassVar[tuple[str, ...]] = (".mp3",)

    def sniff(self, head: bytes, path: Path) -> bool:
        if head.startswith(b"ID3"):
            return True
        # a bare MPEG audio frame sync (no ID3 yet): trust it only with the extension
        return len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and path.suffix.lower() == ".mp3"

    def read(self, path: Path) -> ImplicitLabel | None:
        from mutagen.id3 import ID3, ID3NoHeaderError

        try:
            tags = ID3(path)
        except ID3NoHeaderError:
            return None
        except Exception as exc:  # mutagen raises many types on corrupt tags
            raise LabelError(path, f"ID3 tag unreadable: {exc}") from None
        frames = tags.getall("TXXX:AIGC")
        if not frames:
            return None
        return parse_label(str(frames[0].text[0]) if frames[0].text else "", path)

    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        from mutagen.id3 import ID3, TXXX, ID3NoHeaderError

        _copy(src, dst)
        try:
            try:
                tags = ID3(dst)
            except ID3NoHeaderError:
                tags = ID3()
            tags.delall("TXXX:AIGC")
            tags.add(TXXX(encoding=0, desc="AIGC", text=[self.value(label)]))
            tags.save(dst, v2_version=4)
        except LabelError:
            raise
        except Exception as exc:
            raise LabelError(src, f"cannot write ID3 tag: {exc}") from None


class _VorbisCommentHandler(FormatHandler):
    modality: ClassVar[Modality] = "audio"

    def _open(self, path: Path) -> Any:
        raise NotImplementedError

    def read(self, path: Path) -> ImplicitLabel | None:
        try:
            f = self._open(path)
        except Exception as exc:
            raise LabelError(path, f"{self.name.upper()} tags unreadable: {exc}") from None
        if f.tags is None:
            return None
        values = f.tags.get("AIGC") or f.tags.get("aigc")
        if not values:
            return None
        return parse_label(values[0], path)

    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        _copy(src, dst)
        try:
            f = self._open(dst)
            if f.tags is None:
                f.add_tags()
            f.tags["AIGC"] = [self.value(label)]  # assignment replaces: one label per file
            f.save()
        except Exception as exc:
            raise LabelError(src, f"cannot write {self.name.upper()} tags: {exc}") from None


class FLACHandler(_VorbisCommentHandler):
    name: ClassVar[str] = "flac"
    extensions: ClassVar[tuple[str, ...]] = (".flac",)

    def sniff(self, head: bytes, path: Path) -> bool:
        return head.startswith(b"fLaC")

    def _open(self, path: Path) -> Any:
        from mutagen.flac import FLAC

        return FLAC(path)


class OggHandler(_VorbisCommentHandler):
    name: ClassVar[str] = "ogg"
    extensions: ClassVar[tuple[str, ...]] = (".ogg", ".oga", ".opus")

    def sniff(self, head: bytes, path: Path) -> bool:
        return head.startswith(b"OggS")

    def _open(self, path: Path) -> Any:
        import mutagen

        f = mutagen.File(path)
        if f is None:
            raise ValueError("not an Ogg Vorbis/Opus/FLAC stream mutagen understands")
        return f
