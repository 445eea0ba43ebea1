"""Labeling throughput, each figure against a baseline measured in the same run.

- Images: 1024×1024 PNG and JPEG labeled with the explicit mark + TC260 XMP (``label_file``),
  versus a plain Pillow open + save of the same files with the same save settings
  (PNG default; JPEG quality 95, 4:4:4) — the unavoidable cost of re-encoding a marked image.
  Also implicit-only (byte-level XMP insertion, no re-encode).
- Video: a 10 s 1280×720 25 fps H.264 + AAC clip labeled (opening mark re-encoded with
  libx264 veryfast, audio copied, MP4 metadata) as a multiple of real time; implicit-only
  (stream copy) too.
- Watermark: embed + detect time per 1024×1024 image.

Run: ``.venv/bin/python benchmarks/bench_labeling.py [--images 8] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from hegui.labeling import ImplicitLabel, label_file
from hegui.labeling.implicit import make_provider_code, uscc_check_char
from hegui.labeling.watermark import detect_image_watermark, embed_image_watermark

PRODUCER = make_provider_code("91110108MA01KP2T5" + uscc_check_char("91110108MA01KP2T5"), "10001")


def photo_like(w: int, h: int, seed: int) -> np.ndarray:
    """Smooth colour fields + fine grain: compresses like a photograph, not like a flat test card."""
    import cv2

    rng = np.random.default_rng(seed)
    base = cv2.resize(
        rng.integers(0, 256, (h // 64, w // 64, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC
    )
    grain = rng.normal(0, 6, (h, w, 3))
    return np.clip(base + grain, 0, 255).astype(np.uint8)


def best_of(repeat: int, fn: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_images(tmp: Path, n: int, repeat: int) -> list[tuple[str, float, float]]:
    rows = []
    for fmt, ext, save_kw in (("PNG", "png", {}), ("JPEG", "jpg", {"quality": 95, "subsampling": 0})):
        src = tmp / f"src-{ext}"
        src.mkdir()
        files = []
        for i in range(n):
            p = src / f"img{i}.{ext}"
            Image.fromarray(photo_like(1024, 1024, i)).save(p, fmt, **save_kw)
            files.append(p)
        out = tmp / f"out-{ext}"

        def baseline(
            out: Path = out, files: list[Path] = files, fmt: str = fmt, save_kw: dict = save_kw
        ) -> None:  # type: ignore[type-arg]
            out.mkdir(exist_ok=True)
            for f in files:
                with Image.open(f) as im:
                    im.load()
                    im.save(out / f.name, fmt, **save_kw)

        def ours(explicit: bool, out: Path = out, files: list[Path] = files) -> Callable[[], None]:
            def run() -> None:
                shutil.rmtree(out, ignore_errors=True)
                for f in files:
                    label_file(f, ImplicitLabel.for_producer(PRODUCER), explicit=explicit, out_dir=out)

            return run

        tb = best_of(repeat, baseline)
        te = best_of(repeat, ours(True))
        ti = best_of(repeat, ours(False))
        rows.append((f"{fmt} 1024² explicit+implicit (img/s)", n / te, n / tb))
        rows.append((f"{fmt} 1024² implicit only (img/s)", n / ti, n / tb))
    return rows


def make_clip(path: Path, seconds: float = 10.0, w: int = 1280, h: int = 720, fps: int = 25) -> None:
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"preset": "veryfast", "crf": "23"}
        aus = out.add_stream("aac", rate=44100)
        aus.layout = "mono"
        base = photo_like(w, h, 1)
        for i in range(int(seconds * fps)):
            fr = av.VideoFrame.from_ndarray(np.roll(base, i * 4, axis=1), format="rgb24")
            fr.pts, fr.time_base = i, Fraction(1, fps)
            for p in vs.encode(fr):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        t = np.arange(int(seconds * 44100)) / 44100
        pcm = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for i in range(0, len(pcm) - 1024, 1024):
            af = av.AudioFrame.from_ndarray(pcm[i : i + 1024].reshape(1, -1), format="fltp", layout="mono")
            af.sample_rate, af.pts = 44100, i
            for p in aus.encode(af):
                out.mux(p)
        for p in aus.encode(None):
            out.mux(p)


def bench_video(tmp: Path, repeat: int) -> list[tuple[str, float, float]]:
    clip = tmp / "clip.mp4"
    make_clip(clip)
    out = tmp / "vout"

    def run(explicit: bool) -> Callable[[], None]:
        def f() -> None:
            shutil.rmtree(out, ignore_errors=True)
            label_file(clip, ImplicitLabel.for_producer(PRODUCER), explicit=explicit, out_dir=out)

        return f

    te = best_of(max(1, repeat - 1), run(True))
    ti = best_of(repeat, run(False))
    return [
        ("10 s 720p MP4 explicit+implicit (× real time)", 10.0 / te, 1.0),
        ("10 s 720p MP4 implicit only (× real time)", 10.0 / ti, 1.0),
    ]


def bench_watermark(repeat: int) -> list[tuple[str, float, float]]:
    img = Image.fromarray(photo_like(1024, 1024, 7))
    te = best_of(repeat, lambda: embed_image_watermark(img, PRODUCER) and None)
    marked = embed_image_watermark(img, PRODUCER)
    td = best_of(repeat, lambda: detect_image_watermark(marked) and None)
    return [("watermark embed 1024² (img/s)", 1 / te, 0.0), ("watermark detect 1024² (img/s)", 1 / td, 0.0)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hegui-bench-"))
    try:
        rows = (
            bench_images(tmp, args.images, args.repeat)
            + bench_video(tmp, args.repeat)
            + bench_watermark(args.repeat)
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'measurement':48} {'ours':>9} {'baseline':>9} {'ratio':>7}")
    for name, ours, base in rows:
        if base == 1.0 and "real time" in name:
            print(f"{name:48} {ours:9.2f} {'1 (rt)':>9} {ours:7.2f}")
        elif base:
            print(f"{name:48} {ours:9.2f} {base:9.2f} {ours / base:7.2f}")
        else:
            print(f"{name:48} {ours:9.2f} {'-':>9} {'-':>7}")
    print("baseline for images: Pillow open+load+save of the same files, same save settings")


if __name__ == "__main__":
    main()
