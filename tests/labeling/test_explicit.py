"""Explicit marks, with the GB 45438 numbers measured on the output."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hegui.labeling import explicit as ex

from .media import decode_frames, rgb_image, tone, write_video


def _diff_bbox(a: np.ndarray, b: np.ndarray, thresh: int = 40) -> tuple[int, int, int, int] | None:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    d = d.max(axis=2) if d.ndim == 3 else d
    ys, xs = np.nonzero(d > thresh)
    if len(ys) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize("size", [(64, 64), (320, 240), (240, 320), (1024, 1024), (1920, 1080), (200, 1400)])
def test_image_mark_height_is_at_least_5_percent(size: tuple[int, int]) -> None:
    img = rgb_image(*size)
    marked = ex.apply_image_mark(img)
    box = _diff_bbox(np.asarray(marked), np.asarray(img))
    assert box is not None
    x0, y0, x1, y1 = box
    short = min(size)
    assert y1 - y0 >= math.ceil(0.05 * short)
    # in the bottom-right corner, inside the image, and not absurdly large
    assert x1 <= size[0] and y1 <= size[1] and x1 > 0.9 * size[0] and y0 > size[1] / 2
    assert y1 - y0 <= 0.2 * short + 12
    # nothing outside the mark's block changed
    geo = ex.mark_geometry(*size)
    assert geo.x <= x0 and geo.y <= y0 and x1 <= geo.x + geo.width and y1 <= geo.y + geo.height
    assert geo.glyph_height >= math.ceil(0.05 * short)


@pytest.mark.parametrize(
    "bg, expect_fill", [((250, 250, 250), 0), ((5, 5, 5), 255), ((255, 255, 0), 0), ((0, 0, 120), 255)]
)
def test_colour_follows_local_contrast(bg: tuple[int, int, int], expect_fill: int) -> None:
    img = Image.new("RGB", (400, 300), bg)
    arr = np.asarray(ex.apply_image_mark(img))
    geo = ex.mark_geometry(400, 300)
    fill_m, out_m = ex._mark_masks(ex.IMAGE_MARK, geo.font_size, geo.stroke)
    block = arr[geo.y : geo.y + geo.height, geo.x : geo.x + geo.width].astype(int)
    fill_px = block[fill_m > 0.99].mean(axis=0)
    out_px = block[out_m > 0.99].mean(axis=0)
    assert np.allclose(fill_px, expect_fill, atol=2)
    assert np.allclose(out_px, 255 - expect_fill, atol=2)
    # luminance contrast between text and background is large either way
    lum = lambda c: 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]  # noqa: E731
    assert abs(lum(fill_px) - lum(bg)) > 100


def test_mark_half_dark_half_light_image_uses_region_not_whole_image() -> None:
    arr = np.zeros((300, 400, 3), np.uint8)
    arr[:, 200:] = 250  # bright right half, where the mark goes
    out = np.asarray(ex.apply_image_mark(Image.fromarray(arr)))
    geo = ex.mark_geometry(400, 300)
    fill_m, _ = ex._mark_masks(ex.IMAGE_MARK, geo.font_size, geo.stroke)
    block = out[geo.y : geo.y + geo.height, geo.x : geo.x + geo.width]
    assert block[fill_m > 0.99].mean() < 10


def test_rgba_and_grey_images_keep_their_mode() -> None:
    rgba = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    out = ex.apply_image_mark(rgba)
    assert out.mode == "RGBA" and np.asarray(out)[..., 3].max() == 255
    assert ex.apply_image_mark(Image.new("L", (200, 200), 128)).mode == "L"


def test_detection_positives_and_negatives() -> None:
    rng = np.random.default_rng(3)
    for seed, size in enumerate([(320, 240), (800, 600), (1000, 300)]):
        img = rgb_image(*size, seed=seed)
        assert not ex.detect_image_mark(img).found
        m = ex.apply_image_mark(img)
        assert ex.detect_image_mark(m).found
    noise = Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    assert not ex.detect_image_mark(noise).found
    assert not ex.detect_image_mark(Image.new("RGB", (300, 300), (255, 255, 255))).found
    # other text in the corner is not our mark
    from PIL import ImageDraw

    other = rgb_image(640, 480)
    font = ex._font(40)
    ImageDraw.Draw(other).text(
        (480, 400), "人工", font=font, fill=(255, 255, 255), stroke_width=3, stroke_fill=(0, 0, 0)
    )
    assert not ex.detect_image_mark(other).found


@pytest.mark.parametrize("corner", ex.CORNERS)
def test_detection_survives_jpeg75_and_half_resize(corner: ex.Corner) -> None:
    m = ex.apply_image_mark(rgb_image(1024, 768), corner=corner)
    buf = io.BytesIO()
    m.resize((512, 384), Image.Resampling.LANCZOS).save(buf, "JPEG", quality=75)
    buf.seek(0)
    got = ex.detect_image_mark(Image.open(buf))
    assert got.found and got.corner == corner


def test_too_small_image_is_refused() -> None:
    with pytest.raises(ex.LabelError, match="too small"):
        ex.apply_image_mark(Image.new("RGB", (6, 6)))


def test_video_mark_shown_at_least_2_seconds_and_5_percent(tmp_path: Path) -> None:
    src = write_video(tmp_path / "v.mp4", seconds=5.0, w=320, h=240, fps=25)
    out = tmp_path / "o.mp4"
    ex.label_video(src, out, metadata={"AIGC": "{}"})
    a, b = decode_frames(src), decode_frames(out)
    assert len(a) == len(b) == 125
    marked_times = []
    for (t, fa), (_, fb) in zip(a, b, strict=True):
        box = _diff_bbox(fb, fa, thresh=60)
        if box and (box[3] - box[1]) >= math.ceil(0.05 * 240) and box[0] > 160 and box[1] > 120:
            marked_times.append(t)
    assert marked_times and marked_times[0] == pytest.approx(0.0, abs=0.05)
    duration = len(marked_times) / 25.0
    assert duration >= 2.0
    assert marked_times == sorted(marked_times) and max(marked_times) < 3.05  # the opening only
    # after the mark the picture is the same apart from re-encoding noise
    late = [
        np.abs(fb.astype(int) - fa.astype(int)).mean()
        for (t, fa), (_, fb) in zip(a, b, strict=True)
        if t > 3.1
    ]
    assert late and max(late) < 3.0
    assert ex.detect_video_mark(out).found and not ex.detect_video_mark(src).found


def test_short_video_is_marked_throughout(tmp_path: Path) -> None:
    src = write_video(tmp_path / "s.mp4", seconds=1.0, audio=False)
    out = tmp_path / "o.mp4"
    ex.label_video(src, out)
    a, b = decode_frames(src), decode_frames(out)
    assert all(_diff_bbox(fb, fa, 60) is not None for (_, fa), (_, fb) in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="at least 2"):
        ex.label_video(src, out, seconds=1.5)


# ---------------------------------------------------------------- audio

SR = 16000


def test_morse_timing_is_as_documented() -> None:
    cue = ex.morse_tone(SR)
    t = ex.TIMING
    total = t.lead + t.dot + t.gap + t.dash + t.letter_gap + t.dot + t.gap + t.dot + t.tail
    assert len(cue) == pytest.approx(total * SR, abs=8)
    env = np.convolve(np.abs(cue), np.ones(40) / 40, mode="same")  # 2.5 ms envelope
    on = env > 0.01
    edges = np.flatnonzero(np.diff(on.astype(int)))
    # rebuild the on-durations from the rendered signal: short, long, short, short
    runs = []
    i = 0
    while i < len(on):
        if on[i]:
            j = i
            while j < len(on) and on[j]:
                j += 1
            runs.append((j - i) / SR)
            i = j
        else:
            i += 1
    assert len(runs) == 4 and len(edges) == 8
    assert runs[0] == pytest.approx(0.12, abs=0.006) and runs[1] == pytest.approx(0.36, abs=0.006)
    assert runs[2] == pytest.approx(0.12, abs=0.006) and runs[3] == pytest.approx(0.12, abs=0.006)
    assert np.abs(cue).max() == pytest.approx(0.5, abs=0.01)


def _snr_noise(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    p = float(np.mean(ex.morse_tone(SR) ** 2)) * 4  # power of the tone while on
    n = np.random.default_rng(seed).normal(0, math.sqrt(p / 10 ** (snr_db / 10)), len(x))
    return (x + n).astype(np.float32)


def test_audio_mark_detected_robustly() -> None:
    content = tone(3.0, SR)
    marked = ex.add_audio_mark(content, SR, "start")
    assert ex.detect_audio_mark(marked, SR) == [pytest.approx(0.1, abs=0.03)]
    assert np.array_equal(marked[ex.audio_mark_length(SR) :], content)  # content untouched
    end = ex.add_audio_mark(content, SR, "end")
    assert ex.detect_audio_mark(end, SR) == [pytest.approx(3.1, abs=0.03)]
    assert ex.detect_audio_mark(_snr_noise(marked, 0.0), SR)  # noise as loud as the tone
    assert ex.detect_audio_mark(marked * 0.1, SR)  # −20 dB
    stereo = np.stack([marked, marked], axis=1)
    assert ex.detect_audio_mark(stereo, SR)
    assert ex.detect_audio_mark((marked * 32767).astype(np.int16), SR)
    # other sample rates, and a rendition 25 % faster (resampled)
    for sr in (8000, 44100, 48000):
        assert ex.detect_audio_mark(ex.add_audio_mark(tone(1.0, sr), sr), sr)
    from scipy.signal import resample

    # mixed over (not inserted before) louder, busy content: chords + noise
    t = np.arange(SR * 4) / SR
    music = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (262, 330, 392, 523, 1046)) + _snr_noise(
        t * 0, 10.0, 3
    )
    mixed = music.astype(np.float32).copy()
    cue = ex.morse_tone(SR)
    mixed[SR : SR + len(cue)] += cue
    assert ex.detect_audio_mark(mixed, SR) == [pytest.approx(1.1, abs=0.03)]
    assert ex.detect_audio_mark(music.astype(np.float32), SR) == []
    fast = resample(marked, int(len(marked) * 0.8)).astype(np.float32)
    fast_timing = ex.MorseTiming(freq=1000.0)
    assert ex.detect_audio_mark(fast, SR, fast_timing)


def test_audio_mark_no_false_positives() -> None:
    rng = np.random.default_rng(7)
    assert ex.detect_audio_mark(tone(5.0, SR), SR) == []
    assert ex.detect_audio_mark(rng.normal(0, 0.3, SR * 5).astype(np.float32), SR) == []
    # a steady 800 Hz tone, and 800 Hz beeps with an even rhythm, are not the pattern
    t = np.arange(SR * 3) / SR
    steady = 0.5 * np.sin(2 * np.pi * 800 * t)
    assert ex.detect_audio_mark(steady, SR) == []
    beeps = steady * ((t % 0.24) < 0.12)
    assert ex.detect_audio_mark(beeps, SR) == []
    # "long short short short" (Morse B) is a different rhythm
    b = ex.morse_tone(SR, ex.MorseTiming(dot=0.36, dash=0.12))
    assert ex.detect_audio_mark(b, SR) == []


def test_text_and_html() -> None:
    assert ex.text_label("答案", "本内容由人工智能生成", "end").endswith("本内容由人工智能生成")
    assert ex.text_label("答案", "AI生成", "start").startswith("AI生成\n")
    once = ex.text_label("答案", "AI生成")
    assert ex.text_label(once, "AI生成") == once
    assert ex.has_text_label("以下内容由AI合成") and ex.has_text_label("人工智能生成")
    assert not ex.has_text_label("人工智能是一门学科")
    h = ex.html_badge("内容由AI生成<x>")
    assert 'role="note"' in h and "&lt;x&gt;" in h and "position:sticky" in h
    assert ex.wrap_html("<p>hi</p>").count("hegui-aigc-badge") == 2  # CSS rule + element


def test_missing_font_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ex, "FONT_CANDIDATES", ())
    monkeypatch.setenv("HEGUI_CJK_FONT", "/nonexistent/font.ttc")
    monkeypatch.setenv("PATH", "/nonexistent")
    ex.find_cjk_font.cache_clear()
    try:
        with pytest.raises(ex.FontNotFoundError, match="fonts-noto-cjk"):
            ex.find_cjk_font()
    finally:
        ex.find_cjk_font.cache_clear()
