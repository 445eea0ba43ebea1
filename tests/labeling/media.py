"""Real media generated for the tests: nothing is downloaded or checked in."""

from __future__ import annotations

import io
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

# a valid organisation provider code: 00 + 11 + USCC (checksum computed) + 00000
from hegui.labeling.implicit import make_provider_code, uscc_check_char

USCC = "91110108MA01KP2T5" + uscc_check_char("91110108MA01KP2T5")
PRODUCER = make_provider_code(USCC, "10001")
PLATFORM = make_provider_code("91440300" + "708461136" + uscc_check_char("91440300708461136"), "20002")


def rgb_image(w: int = 320, h: int = 240, seed: int = 0) -> Image.Image:
    """A smooth gradient plus texture: realistic enough for contrast and JPEG tests."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 / max(w - 1, 1)).astype(np.uint8)
    g = (y * 255 / max(h - 1, 1)).astype(np.uint8)
    b = ((x + y) % 256).astype(np.uint8)
    arr = np.stack([r, g, b], axis=-1).astype(np.int16) + rng.integers(-8, 8, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def write_image(path: Path, fmt: str, w: int = 320, h: int = 240, **kw: object) -> Path:
    img = rgb_image(w, h)
    img.save(path, fmt, **kw)
    return path


def tone(seconds: float = 2.0, sr: int = 16000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * np.sin(2 * np.pi * 97 * t)).astype(np.float32)


def write_audio(path: Path, fmt: str, seconds: float = 2.0, sr: int = 16000) -> Path:
    import soundfile as sf

    data = tone(seconds, sr)
    if fmt == "WAV":
        sf.write(path, data, sr, subtype="PCM_16", format="WAV")
    elif fmt == "FLAC":
        sf.write(path, data, sr, subtype="PCM_16", format="FLAC")
    elif fmt == "OGG":
        sf.write(path, data, sr, subtype="VORBIS", format="OGG")
    elif fmt == "MP3":
        _encode_mp3(path, data, sr)
    else:
        raise ValueError(fmt)
    return path


def _encode_mp3(path: Path, data: np.ndarray, sr: int) -> None:
    import av

    sr = 44100 if sr not in (32000, 44100, 48000) else sr
    with av.open(str(path), "w", format="mp3") as out:
        st = out.add_stream("libmp3lame", rate=sr)
        st.layout = "mono"
        n = 1152
        pcm = np.resize(data, int(len(data) * sr / 16000)).astype(np.float32)
        for i in range(0, len(pcm), n):
            chunk = pcm[i : i + n].reshape(1, -1)
            fr = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            fr.sample_rate = sr
            fr.pts = i
            for p in st.encode(fr):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)


def write_video(
    path: Path, seconds: float = 3.0, w: int = 320, h: int = 240, fps: int = 25, audio: bool = True
) -> Path:
    """H.264 (+ AAC) clip whose frames move, so frame-by-frame diffs are meaningful."""
    import av

    fmt = {".mkv": "matroska", ".mov": "mov"}.get(path.suffix, "mp4")
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "18"}
        as_ = None
        if audio:
            as_ = out.add_stream("aac", rate=16000)
            as_.layout = "mono"
        base = np.asarray(rgb_image(w, h))
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i * 2, axis=1), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        if as_ is not None:
            pcm = tone(seconds, 16000)
            n = 1024
            for i in range(0, len(pcm) - n, n):
                fr = av.AudioFrame.from_ndarray(pcm[i : i + n].reshape(1, -1), format="fltp", layout="mono")
                fr.sample_rate = 16000
                fr.pts = i
                for p in as_.encode(fr):
                    out.mux(p)
            for p in as_.encode(None):
                out.mux(p)
    return path


def decode_frames(path: Path) -> list[tuple[float, np.ndarray]]:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(s)]


def write_docx(path: Path, text: str = "你好，世界") -> Path:
    ct = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="word/document.xml"/></Relationships>'
    )
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?><w:document '
        'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
        'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml" '
        'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" mc:Ignorable="w14">'
        f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p>"
        '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/></w:sectPr></w:body></w:document>'
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", ct)
        z.writestr("_rels/.rels", rels)
        z.writestr("word/document.xml", doc)
    return path


def write_xlsx(path: Path) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "生成内容"
    ws["B2"] = 42
    wb.save(path)
    return path


def write_pdf(path: Path) -> Path:
    rgb_image(200, 100).save(path, "PDF")
    return path


def pdf_bytes() -> bytes:
    buf = io.BytesIO()
    rgb_image(50, 50).save(buf, "PDF")
    return buf.getvalue()
