"""Per-format factories and content extractors shared by the round-trip and fuzz tests."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import media


def _pixels(p: Path) -> Any:
    from PIL import Image

    with Image.open(p) as im:
        im.load()
        return np.asarray(im.convert("RGBA"))


def _samples(p: Path) -> Any:
    import soundfile as sf

    data, _ = sf.read(str(p), dtype="float32")
    return data


def _packets(p: Path) -> Any:
    import av

    with av.open(str(p)) as c:
        out = [(pk.stream.type, pk.pts, bytes(pk)) for pk in c.demux() if pk.size]
    with av.open(str(p)) as c:  # and every frame still decodes
        frames = sum(1 for _ in c.decode(video=0))
    return out, frames


def _docx(p: Path) -> Any:
    with zipfile.ZipFile(p) as z:
        return z.read("word/document.xml")


def _xlsx(p: Path) -> Any:
    import openpyxl

    wb = openpyxl.load_workbook(p)
    return [[c.value for c in row] for row in wb.active.iter_rows()]


def _pdf(p: Path) -> Any:
    from pypdf import PdfReader

    r = PdfReader(p)
    return [pg.get_contents().get_data() for pg in r.pages]


def _md(p: Path) -> Any:
    from hegui.labeling.formats.text import split_front_matter

    return split_front_matter(p.read_text("utf-8"))[1]


def _txt(p: Path) -> Any:
    from hegui.labeling.formats.text import strip_trailer

    return strip_trailer(p.read_text("utf-8"))[0]


def _md_make(p: Path) -> Path:
    p.write_text("---\ntitle: 测试\n---\n# 标题\n\n正文。\n", encoding="utf-8")
    return p


def _txt_make(p: Path) -> Path:
    p.write_text("第一行\n第二行\n", encoding="utf-8")
    return p


# name: (filename, factory, content extractor)
CASES: dict[str, tuple[str, Callable[[Path], Path], Callable[[Path], Any]]] = {
    "png": ("a.png", lambda p: media.write_image(p, "PNG"), _pixels),
    "png-rgba": ("b.png", lambda p: (media.rgb_image().convert("RGBA").save(p), p)[1], _pixels),
    "jpeg": ("a.jpg", lambda p: media.write_image(p, "JPEG", quality=90), _pixels),
    "webp-lossy": ("a.webp", lambda p: media.write_image(p, "WEBP", quality=80), _pixels),
    "webp-lossless": ("b.webp", lambda p: media.write_image(p, "WEBP", lossless=True), _pixels),
    "wav": ("a.wav", lambda p: media.write_audio(p, "WAV"), _samples),
    "flac": ("a.flac", lambda p: media.write_audio(p, "FLAC"), _samples),
    "ogg": ("a.ogg", lambda p: media.write_audio(p, "OGG"), _samples),
    "mp3": ("a.mp3", lambda p: media.write_audio(p, "MP3"), _samples),
    "mp4": ("a.mp4", lambda p: media.write_video(p, seconds=1.0), _packets),
    "mov": ("a.mov", lambda p: media.write_video(p, seconds=1.0), _packets),
    "mkv": ("a.mkv", lambda p: media.write_video(p, seconds=1.0), _packets),
    "docx": ("a.docx", media.write_docx, _docx),
    "xlsx": ("a.xlsx", media.write_xlsx, _xlsx),
    "pdf": ("a.pdf", media.write_pdf, _pdf),
    "markdown": ("a.md", _md_make, _md),
    "text": ("a.txt", _txt_make, _txt),
}
