"""One module per container; ``handler_for(path)`` picks the right one by magic bytes first,
then by extension (text formats have no magic)."""

from __future__ import annotations

from pathlib import Path

from hegui.labeling.formats.av_container import MKVHandler, MP4Handler
from hegui.labeling.formats.base import FormatHandler, Modality
from hegui.labeling.formats.jpeg import JPEGHandler
from hegui.labeling.formats.ooxml import OOXMLHandler
from hegui.labeling.formats.pdf import PDFHandler
from hegui.labeling.formats.png import PNGHandler
from hegui.labeling.formats.tags import FLACHandler, MP3Handler, OggHandler
from hegui.labeling.formats.text import MarkdownHandler, PlainTextHandler
from hegui.labeling.formats.wav import WAVHandler
from hegui.labeling.formats.webp import WebPHandler
from hegui.labeling.implicit import LabelError

HANDLERS: tuple[FormatHandler, ...] = (
    PNGHandler(),
    JPEGHandler(),
    WebPHandler(),
    WAVHandler(),
    MP3Handler(),
    FLACHandler(),
    OggHandler(),
    MP4Handler(),
    MKVHandler(),
    OOXMLHandler(),
    PDFHandler(),
    MarkdownHandler(),
    PlainTextHandler(),
)


def handler_for(path: str | Path) -> FormatHandler:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise LabelError(path, f"cannot open: {exc.strerror or exc}") from None
    for h in HANDLERS:
        if h.sniff(head, path):
            return h
    raise LabelError(path, f"unsupported or unrecognised format (extension {path.suffix or 'none'!r})")


__all__ = ["HANDLERS", "FormatHandler", "Modality", "handler_for"]
