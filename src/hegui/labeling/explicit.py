"""Explicit labels (GB 45438-2025 §4): what a person sees or hears.

- Text: the policy's notice at the start or end.
- Image: ``AI生成`` in a corner; glyph height ≥ 5 % of the shortest side; fill and outline
  chosen from the luminance under the mark so it is legible on any background.
- Video: the same mark on every frame of the first ``seconds`` (≥ 2 s, default 3 s).
- Audio: Morse "AI" (·- ··, "short long short short") at 800 Hz: dot 120 ms, dash 360 ms,
  120 ms between elements, 360 ms between the two letters, 5 ms raised-cosine ramps,
  −6 dBFS. The standard fixes no timing; this one is ours (docs/labeling.md).
- Interactive interfaces: a persistent HTML badge.

Detection of our own image mark is OCR-free: we know how the mark is drawn for any image size,
so we correlate the image against the rendered template in each corner.
"""

from __future__ import annotations

import functools
import html
import math
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hegui.labeling.implicit import LabelError

IMAGE_MARK = "AI生成"
MIN_HEIGHT_RATIO = 0.05  # GB 45438: text height ≥ 5 % of the shortest side
MIN_VIDEO_SECONDS = 2.0  # GB 45438: shown for at least 2 s at the opening
Corner = Literal["bottom-right", "bottom-left", "top-right", "top-left"]
CORNERS: tuple[Corner, ...] = ("bottom-right", "bottom-left", "top-right", "top-left")

_EXPLICIT_TEXT_RE = re.compile(r"(人工智能|AI|ＡＩ).{0,8}?(生成|合成)", re.IGNORECASE | re.DOTALL)

# ---------------------------------------------------------------- text


def text_label(
    text: str, notice: str = "本内容由人工智能生成", position: Literal["start", "end"] = "end"
) -> str:
    """``text`` with the notice at its start or end (unchanged if it already carries it there)."""
    if position == "start":
        return text if text.startswith(notice) else f"{notice}\n{text}"
    return text if text.rstrip().endswith(notice) else f"{text.rstrip()}\n\n{notice}"


def has_text_label(text: str) -> bool:
    """An AI element and a generation element close together (e.g. 人工智能生成, AI合成)."""
    return _EXPLICIT_TEXT_RE.search(text) is not None


# ---------------------------------------------------------------- fonts

FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


class FontNotFoundError(LabelError):
    def __init__(self) -> None:
        super().__init__(
            None,
            "no CJK font found for the explicit image/video mark: install the Debian package "
            "'fonts-noto-cjk' (apt-get install fonts-noto-cjk) or point HEGUI_CJK_FONT at a .ttf/.ttc/.otf",
        )


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> tuple[str, int]:
    """(path, face index) of an installed font with Simplified Chinese glyphs. Never downloads."""
    import os

    env = os.environ.get("HEGUI_CJK_FONT")
    paths = [env] if env else []
    paths += [p for p in FONT_CANDIDATES if Path(p).exists()]
    if not paths:
        try:
            out = subprocess.run(
                ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10
            ).stdout
            paths = [ln.split(":")[0].strip() for ln in out.splitlines() if ln.strip()]
        except (OSError, subprocess.SubprocessError):
            paths = []
    for p in paths:
        for idx in range(8):  # Noto CJK collections: pick the SC face
            try:
                f = ImageFont.truetype(p, 20, index=idx)
            except OSError:
                break
            if "SC" in " ".join(x or "" for x in f.getname()) or idx == 0 and not p.endswith(".ttc"):
                return p, idx
        try:
            ImageFont.truetype(p, 20)
            return p, 0
        except OSError:
            continue
    raise FontNotFoundError()


@functools.lru_cache(maxsize=256)
def _font(size: int) -> ImageFont.FreeTypeFont:
    path, idx = find_cjk_font()
    return ImageFont.truetype(path, size, index=idx)


# ---------------------------------------------------------------- image mark


@dataclass(frozen=True)
class MarkGeometry:
    font_size: int
    stroke: int
    x: int  # top-left of the rendered block (ink + stroke)
    y: int
    width: int
    height: int
    glyph_height: int  # ink height of the text without the outline
    corner: Corner


@functools.lru_cache(maxsize=512)
def _ink(text: str, size: int, stroke: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = _font(size).getbbox(text, stroke_width=stroke)
    return int(x0), int(y0), int(x1), int(y1)


def _stroke_for(size: int) -> int:
    return max(1, round(size / 14))


def mark_geometry(
    width: int, height: int, corner: Corner = "bottom-right", text: str = IMAGE_MARK
) -> MarkGeometry:
    """Where and how big the mark is drawn on a ``width``×``height`` image."""
    if width < 8 or height < 8:
        raise LabelError(None, f"image {width}x{height} is too small to carry a legible mark")
    short = min(width, height)
    target = max(math.ceil(MIN_HEIGHT_RATIO * short), 8)
    size = max(int(target / 0.8), 6)
    for _ in range(200):  # grow until the glyph ink really is ≥ target (fonts differ)
        x0, y0, x1, y1 = _ink(text, size, 0)
        if y1 - y0 >= target:
            break
        size += 1
    glyph_h = y1 - y0
    stroke = _stroke_for(size)
    sx0, sy0, sx1, sy1 = _ink(text, size, stroke)
    bw, bh = sx1 - sx0, sy1 - sy0
    margin = max(2, round(0.02 * short))
    if bw + 2 * margin > width or bh + 2 * margin > height:
        raise LabelError(None, f"image {width}x{height} is too narrow for a mark of height {target}px")
    left = corner.endswith("left")
    top = corner.startswith("top")
    x = margin if left else width - margin - bw
    y = margin if top else height - margin - bh
    return MarkGeometry(size, stroke, x, y, bw, bh, glyph_h, corner)


@functools.lru_cache(maxsize=64)
def _mark_masks(text: str, size: int, stroke: int) -> tuple[np.ndarray, np.ndarray]:
    """(fill mask, outline mask) as float arrays in [0, 1] of the block's size."""
    sx0, sy0, sx1, sy1 = _ink(text, size, stroke)
    w, h = sx1 - sx0, sy1 - sy0
    font = _font(size)
    full = Image.new("L", (w, h), 0)
    ImageDraw.Draw(full).text((-sx0, -sy0), text, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    fill = Image.new("L", (w, h), 0)
    ImageDraw.Draw(fill).text((-sx0, -sy0), text, font=font, fill=255)
    f = np.asarray(fill, dtype=np.float32) / 255.0
    a = np.asarray(full, dtype=np.float32) / 255.0
    return f, np.clip(a - f, 0.0, 1.0)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def choose_colours(region_rgb: np.ndarray) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(fill, outline): dark text with a light outline on light backgrounds, else the reverse."""
    light = float(_luma(region_rgb.astype(np.float32)).mean()) >= 128.0
    return ((0, 0, 0), (255, 255, 255)) if light else ((255, 255, 255), (0, 0, 0))


def draw_mark_array(
    rgb: np.ndarray,
    geo: MarkGeometry,
    text: str = IMAGE_MARK,
    colours: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None,
) -> np.ndarray:
    """Blend the mark into an HxWx3 uint8 array in place (only the mark's block is touched)."""
    fill_m, out_m = _mark_masks(text, geo.font_size, geo.stroke)
    ys, xs = slice(geo.y, geo.y + geo.height), slice(geo.x, geo.x + geo.width)
    region = rgb[ys, xs].astype(np.float32)
    fill_c, out_c = colours or choose_colours(region)
    f, o = fill_m[..., None], out_m[..., None]
    blended = region * (1 - f - o) + f * np.array(fill_c, np.float32) + o * np.array(out_c, np.float32)
    rgb[ys, xs] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return rgb


def apply_image_mark(
    img: Image.Image, corner: Corner = "bottom-right", text: str = IMAGE_MARK
) -> Image.Image:
    """A copy of ``img`` with the visible mark (mode kept where possible: RGB/RGBA/L)."""
    mode = img.mode
    has_alpha = "A" in img.getbands() or (mode == "P" and "transparency" in img.info)
    work = img.convert("RGBA" if has_alpha else "RGB")
    arr = np.array(work)
    geo = mark_geometry(work.width, work.height, corner, text)
    draw_mark_array(arr[..., :3], geo, text)
    if has_alpha:  # the mark must be visible even on transparent pixels
        fill_m, out_m = _mark_masks(text, geo.font_size, geo.stroke)
        a = arr[geo.y : geo.y + geo.height, geo.x : geo.x + geo.width, 3].astype(np.float32)
        cover = np.clip(fill_m + out_m, 0, 1)
        arr[geo.y : geo.y + geo.height, geo.x : geo.x + geo.width, 3] = np.maximum(a, cover * 255).astype(
            np.uint8
        )
    out = Image.fromarray(arr)
    if mode in ("L", "LA"):
        out = out.convert(mode)
    return out


@dataclass(frozen=True)
class MarkMatch:
    found: bool
    score: float
    corner: Corner | None


MATCH_THRESHOLD = 0.6


@functools.lru_cache(maxsize=64)
def _template(text: str, size: int) -> tuple[np.ndarray, np.ndarray, float, int, int]:
    """(selection mask, zero-mean template values on it, their norm, height, width)."""
    fill_m, out_m = _mark_masks(text, size, _stroke_for(size))
    sel = (fill_m > 0.5) | (out_m > 0.5)
    t = (fill_m - out_m)[sel]
    t = t - t.mean()
    return sel, t, float(np.sqrt((t * t).sum())) or 1.0, fill_m.shape[0], fill_m.shape[1]


def _score(gray: np.ndarray, y0: int, x0: int, tpl: tuple[np.ndarray, np.ndarray, float, int, int]) -> float:
    sel, t, tn, th, tw = tpl
    if y0 < 0 or x0 < 0 or y0 + th > gray.shape[0] or x0 + tw > gray.shape[1]:
        return 0.0
    r = gray[y0 : y0 + th, x0 : x0 + tw][sel]
    r = r - r.mean()
    rn = float(np.sqrt((r * r).sum()))
    return 0.0 if rn < 1e-6 else abs(float((r * t).sum()) / (rn * tn))


def detect_image_mark(img: Image.Image | np.ndarray, text: str = IMAGE_MARK) -> MarkMatch:
    """Find our mark by correlating each corner with the template rendered for this image's
    size (±1 font size and ±2 px, which covers re-encoding and a proportional resize).

    Coarse to fine: a 3×3 grid (2 px step) is scored first for each corner and size; only a
    corner that already looks like the mark (score ≥ 0.25) gets the full ±2 px search, so an
    unmarked image costs 108 small correlations instead of 300."""
    rgb = np.asarray(img.convert("RGB")) if isinstance(img, Image.Image) else img
    h, w = rgb.shape[:2]
    best, best_corner = 0.0, None
    for corner in CORNERS:
        try:
            geo = mark_geometry(w, h, corner, text)
        except LabelError:
            return MarkMatch(False, 0.0, None)
        # only the corner block (+ jitter margin) is converted to luminance
        pad = 4
        cy0, cx0 = max(0, geo.y - pad), max(0, geo.x - pad)
        cy1, cx1 = min(h, geo.y + geo.height + pad), min(w, geo.x + geo.width + pad)
        gray = _luma(rgb[cy0:cy1, cx0:cx1, :3].astype(np.float32))
        for dsize in (0, -1, 1):
            tpl = _template(text, geo.font_size + dsize)
            th, tw = tpl[3], tpl[4]
            # anchor at the same corner the writer used (block coordinates), then jitter
            bx = (geo.x if corner.endswith("left") else geo.x + geo.width - tw) - cx0
            by = (geo.y if corner.startswith("top") else geo.y + geo.height - th) - cy0
            # the correlation peak is only a few pixels wide: coarse grid with a 2 px step
            scores = [_score(gray, by + dy, bx + dx, tpl) for dy in (-2, 0, 2) for dx in (-2, 0, 2)]
            if max(scores) >= 0.25:
                scores += [_score(gray, by + dy, bx + dx, tpl) for dy in range(-2, 3) for dx in range(-2, 3)]
            top = max(scores)
            if top > best:
                best, best_corner = top, corner
    found = best >= MATCH_THRESHOLD
    return MarkMatch(found, round(best, 4), best_corner if found else None)


# ---------------------------------------------------------------- video


def label_video(
    src: str | Path,
    dst: str | Path,
    metadata: dict[str, str] | None = None,
    seconds: float = 3.0,
    corner: Corner = "bottom-right",
    crf: int = 18,
    preset: str = "veryfast",
) -> None:
    """Re-encode the video stream (H.264) with the mark on the opening ``seconds`` (≥ 2 s;
    the whole clip if shorter); audio and subtitles are stream-copied; ``metadata`` goes into
    the container (with ``use_metadata_tags`` for MP4/MOV)."""
    import os

    import av

    from hegui.labeling.formats.av_container import open_input, output_options
    from hegui.labeling.formats.base import temp_sibling

    if seconds < MIN_VIDEO_SECONDS:
        raise ValueError(f"the opening mark must last at least {MIN_VIDEO_SECONDS} s")
    src, dst = Path(src), Path(dst)
    fmt = {".mov": "mov", ".mkv": "matroska", ".webm": "matroska"}.get(dst.suffix.lower(), "mp4")
    tmp = temp_sibling(dst)
    try:
        with open_input(src) as inp:
            if not inp.streams.video:
                raise LabelError(src, "no video stream")
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            with av.open(str(tmp), "w", format=fmt, options=output_options(fmt)) as out:
                rate = vin.average_rate or vin.guessed_rate or Fraction(25)
                vout = out.add_stream("libx264", rate=rate)
                vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
                vout.pix_fmt = "yuv420p"
                vout.options = {"crf": str(crf), "preset": preset}
                vout.thread_type = "AUTO"
                copies: dict[int, Any] = {}
                for s in inp.streams:
                    if s.type in ("audio", "subtitle"):
                        copies[s.index] = out.add_stream_from_template(s)
                meta = {
                    k: v
                    for k, v in inp.metadata.items()
                    if k not in ("major_brand", "minor_version", "compatible_brands", "encoder")
                }
                meta.update(metadata or {})
                out.metadata.update(meta)
                geo = mark_geometry(vout.width, vout.height, corner)
                colours = None
                start: float | None = None
                for packet in inp.demux(vin, *[inp.streams[i] for i in copies]):
                    if packet.stream.index in copies:
                        if packet.size == 0:
                            continue
                        packet.stream = copies[packet.stream.index]
                        out.mux(packet)
                        continue
                    for frame in packet.decode():
                        t = float(frame.time) if frame.time is not None else 0.0
                        start = t if start is None else start
                        if t - start < seconds:
                            arr = frame.to_ndarray(format="rgb24")
                            if colours is None:  # decided once so the mark does not flicker
                                colours = choose_colours(
                                    arr[geo.y : geo.y + geo.height, geo.x : geo.x + geo.width]
                                )
                            draw_mark_array(arr, geo, colours=colours)
                            new = av.VideoFrame.from_ndarray(arr, format="rgb24")
                            new.pts, new.time_base = frame.pts, frame.time_base
                            frame = new
                        else:
                            frame.pict_type = av.video.frame.PictureType.NONE
                        for p in vout.encode(frame):
                            out.mux(p)
                for p in vout.encode(None):
                    out.mux(p)
        os.replace(tmp, dst)
    except av.FFmpegError as exc:
        raise LabelError(src, f"cannot re-encode video: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def detect_video_mark(path: str | Path, at: tuple[float, ...] = (0.0, 0.5, 1.5)) -> MarkMatch:
    """Look for the mark in frames of the opening (times in seconds from the first frame)."""
    import av

    from hegui.labeling.formats.av_container import open_input

    best = MarkMatch(False, 0.0, None)
    try:
        with open_input(Path(path)) as c:
            if not c.streams.video:
                return best
            want = list(at)
            start = None
            for frame in c.decode(c.streams.video[0]):
                t = float(frame.time or 0.0)
                start = t if start is None else start
                if not want:
                    break
                if t - start >= want[0]:
                    want.pop(0)
                    m = detect_image_mark(frame.to_ndarray(format="rgb24"))
                    if m.score > best.score:
                        best = m
    except av.FFmpegError as exc:
        raise LabelError(path, f"cannot decode video: {exc}") from None
    return best


# ---------------------------------------------------------------- audio


@dataclass(frozen=True)
class MorseTiming:
    freq: float = 800.0
    dot: float = 0.12
    dash: float = 0.36
    gap: float = 0.12  # between the elements of one letter
    letter_gap: float = 0.36  # between A and I
    ramp: float = 0.005
    amplitude: float = 0.5  # −6 dBFS
    lead: float = 0.1  # silence before, when inserted at the start
    tail: float = 0.3  # silence after, before the content resumes

    def elements(self) -> list[tuple[bool, float]]:
        """(tone on?, duration) for ·- ··."""
        return [
            (True, self.dot),
            (False, self.gap),
            (True, self.dash),
            (False, self.letter_gap),
            (True, self.dot),
            (False, self.gap),
            (True, self.dot),
        ]


TIMING = MorseTiming()


def morse_tone(sr: int, timing: MorseTiming = TIMING) -> np.ndarray:
    """The "AI" rhythm as float32 mono samples in [-1, 1], framed by lead/tail silence."""
    parts = [np.zeros(int(round(timing.lead * sr)), np.float32)]
    for on, dur in timing.elements():
        n = int(round(dur * sr))
        if not on:
            parts.append(np.zeros(n, np.float32))
            continue
        t = np.arange(n) / sr
        s = timing.amplitude * np.sin(2 * np.pi * timing.freq * t)
        r = min(int(timing.ramp * sr), n // 2)
        if r:
            ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, r))
            s[:r] *= ramp
            s[-r:] *= ramp[::-1]
        parts.append(s.astype(np.float32))
    parts.append(np.zeros(int(round(timing.tail * sr)), np.float32))
    return np.concatenate(parts)


def add_audio_mark(
    samples: np.ndarray, sr: int, position: Literal["start", "end"] = "start", timing: MorseTiming = TIMING
) -> np.ndarray:
    """Samples (frames × channels or mono) with the rhythm inserted; content is not altered."""
    cue = morse_tone(sr, timing)
    if samples.ndim == 2:
        cue = np.repeat(cue[:, None], samples.shape[1], axis=1)
    cue = (
        cue.astype(samples.dtype)
        if np.issubdtype(samples.dtype, np.floating)
        else (cue * np.iinfo(samples.dtype).max).astype(samples.dtype)
    )
    return np.concatenate([cue, samples] if position == "start" else [samples, cue])


def audio_mark_length(sr: int, timing: MorseTiming = TIMING) -> int:
    return len(morse_tone(sr, timing))


def detect_audio_mark(samples: np.ndarray, sr: int, timing: MorseTiming = TIMING) -> list[float]:
    """Start times (s) of every "short long short short" burst pattern at ``timing.freq``.

    Frames of 20 ms every 10 ms; a frame is "on" when the ±60 Hz band around the tone holds
    stands ≥ 13 dB above the frame's median spectral density and the tone is above −40 dBFS. Durations are judged relative to the
    pattern's own unit, so a sped-up or slowed-down (±40 %) rendition still matches."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if np.issubdtype(np.asarray(samples).dtype, np.integer):
        x = x / np.iinfo(np.asarray(samples).dtype).max
    hop, win = max(1, int(sr * 0.01)), max(8, int(sr * 0.02))
    if len(x) < win or timing.freq * 2 >= sr:
        return []
    n = 1 + (len(x) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    frames = x[idx] * np.hanning(win)[None, :]
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(win, 1 / sr)
    band = (freqs >= timing.freq - 60) & (freqs <= timing.freq + 60)
    band_e = spec[:, band].sum(axis=1)
    # a tone is a narrow peak: its band's power density must stand well above the frame's
    # median density (broadband noise, even as loud as the tone, raises both alike)
    prominence = (band_e / band.sum()) / (np.median(spec, axis=1) + 1e-12)
    level = np.sqrt(band_e / (win * (np.hanning(win) ** 2).mean()) * 2 / win)  # ≈ tone amplitude
    on = (prominence > 20.0) & (level > 0.01)
    # close 1-frame holes and drop 1-frame blips
    on[1:-1] |= on[:-2] & on[2:]
    on[1:-1] &= on[:-2] | on[2:]
    runs: list[tuple[float, float]] = []  # (start, duration) in seconds
    i = 0
    while i < n:
        if on[i]:
            j = i
            while j < n and on[j]:
                j += 1
            runs.append((i * hop / sr, (j - i) * hop / sr + (win - hop) / sr))
            i = j
        else:
            i += 1
    hits = []
    for k in range(len(runs) - 3):
        (s1, d1), (s2, d2), (s3, d3), (s4, d4) = runs[k : k + 4]
        unit = (d1 + d3 + d4) / 3
        if not 0.04 <= unit <= 0.3:
            continue
        if any(not 0.6 * unit <= d <= 1.5 * unit for d in (d1, d3, d4)):
            continue
        if not 2.0 * unit <= d2 <= 4.5 * unit:
            continue
        gaps = (s2 - s1 - d1, s3 - s2 - d2, s4 - s3 - d3)
        if any(g > 5 * unit for g in gaps):
            continue
        hits.append(round(s1, 3))
    return hits


# ---------------------------------------------------------------- interactive interfaces

BADGE_CSS = """.hegui-aigc-badge{position:sticky;top:0;z-index:2147483000;display:inline-block;
padding:.25em .6em;font:600 14px/1.4 system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;
color:#fff;background:rgba(0,0,0,.72);border:1px solid #fff;border-radius:4px;pointer-events:none}"""


def html_badge(text: str = "内容由AI生成") -> str:
    """A persistent, screen-reader-visible badge to place next to generated content."""
    t = html.escape(text)
    return f'<style>{BADGE_CSS}</style><span class="hegui-aigc-badge" role="note" aria-label="{t}">{t}</span>'


def wrap_html(content_html: str, text: str = "内容由AI生成") -> str:
    """Generated HTML content with the badge continuously shown above it (sticky)."""
    return f'<section class="hegui-aigc" data-aigc="1">{html_badge(text)}<div>{content_html}</div></section>'
