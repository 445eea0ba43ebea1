from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hegui.labeling import ImplicitLabel, detect_file, label_file, propagate_file
from hegui.labeling import signature as sig
from hegui.labeling import watermark as wm

from .media import PLATFORM, PRODUCER, rgb_image, tone, write_audio, write_image


def _attack(img: Image.Image, quality: int = 75, scale: float = 0.5) -> Image.Image:
    small = img.resize((int(img.width * scale), int(img.height * scale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _psnr(a: Image.Image, b: Image.Image) -> float:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(10 * np.log10(255**2 / np.mean(d**2)))


def test_image_watermark_survives_jpeg75_and_half_resize() -> None:
    bers, psnrs = [], []
    for seed in range(4):
        img = rgb_image(1024, 768, seed=seed)
        marked = wm.embed_image_watermark(img, PRODUCER)
        psnrs.append(_psnr(img, marked))
        r = wm.detect_image_watermark(_attack(marked), PRODUCER)
        assert r.found
        bers.append(r.bit_error_rate)
        assert not wm.detect_image_watermark(_attack(img)).found
    assert max(bers) <= 0.05  # measured: 0.0
    assert min(psnrs) >= 38.0


def test_image_watermark_false_positive_rate_is_low() -> None:
    rng = np.random.default_rng(11)
    hits = 0
    for seed in range(20):
        img = (
            Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
            if seed % 2
            else rgb_image(300, 200, seed=seed)
        )
        hits += wm.detect_image_watermark(img).found
    assert hits == 0
    assert not wm.detect_image_watermark(wm.embed_image_watermark(rgb_image(), key="other")).found


def test_audio_watermark() -> None:
    rng = np.random.default_rng(5)
    x = tone(5.0, 16000)
    y = wm.embed_audio_watermark(x)
    assert np.max(np.abs(y - x)) <= wm.AUDIO_LEVEL + 1e-6
    assert wm.detect_audio_watermark(y)[0]
    cropped_noisy = y[3001:] * 0.5 + rng.normal(0, 0.05, len(y) - 3001)
    assert wm.detect_audio_watermark(cropped_noisy)[0]
    assert not wm.detect_audio_watermark(x)[0]
    assert not wm.detect_audio_watermark(rng.normal(0, 0.3, 80000))[0]


def test_platform_uses_watermark_as_a_trace(tmp_path: Path) -> None:
    p = write_image(tmp_path / "a.png", "PNG", 640, 480)
    r = label_file(
        p, ImplicitLabel.for_producer(PRODUCER), explicit=False, watermark=True, out_dir=tmp_path / "o"
    )
    # strip metadata: only the watermark remains
    stripped = tmp_path / "s.jpg"
    Image.open(r.output).convert("RGB").save(stripped, "JPEG", quality=75)
    d = detect_file(stripped, watermark=True)
    assert d.implicit is None and not d.explicit and d.watermark and d.verdict == "3"
    assert propagate_file(stripped, PLATFORM, declared=False).verdict == "3"

    w = write_audio(tmp_path / "a.wav", "WAV", seconds=4.0)
    r = label_file(w, ImplicitLabel.for_producer(PRODUCER), watermark=True, out_dir=tmp_path / "o")
    assert detect_file(r.output, watermark=True).watermark


def test_ed25519_signatures() -> None:
    key = sig.generate_key()
    pub = sig.load_public_pem(sig.public_pem(key))
    lab = sig.sign(ImplicitLabel.for_producer(PRODUCER, "p1"), key)
    assert lab.reserved_code1.startswith("ed25519:")
    assert sig.verify(lab, pub)
    # the producer's signature still verifies after a platform writes its propagator fields
    plat_key = sig.generate_key()
    prop = sig.sign(
        lab.model_copy(update={"content_propagator": PLATFORM, "propagate_id": "x"}), plat_key, "propagator"
    )
    assert sig.verify(prop, pub) and sig.verify(prop, plat_key.public_key(), "propagator")
    # and both break on tampering
    assert not sig.verify(prop.model_copy(update={"produce_id": "p2"}), pub)
    assert not sig.verify(prop.model_copy(update={"propagate_id": "y"}), plat_key.public_key(), "propagator")
    assert not sig.verify(lab, sig.generate_key().public_key())
    assert not sig.verify(lab.model_copy(update={"reserved_code1": "ed25519:!!"}), pub)
    # the signed label is still a valid Annex E value
    ImplicitLabel.model_validate(lab.fields())
    with pytest.raises(ValueError):
        sig.load_public_pem(b"not a key")


def test_sm2_signatures() -> None:
    pytest.importorskip("gmssl")
    key = sig.sm2_generate_key()
    assert len(key.private_hex) == 64 and len(key.public_hex) == 128
    lab = sig.sm2_sign(ImplicitLabel.for_producer(PRODUCER, "p1"), key)
    assert lab.reserved_code1.startswith("sm2:")
    ImplicitLabel.model_validate(lab.fields())
    assert sig.sm2_verify(lab, key.public_hex)
    assert not sig.sm2_verify(lab.model_copy(update={"label": "2"}), key.public_hex)
    assert not sig.sm2_verify(lab, sig.sm2_generate_key().public_hex)
    assert not sig.sm2_verify(lab.model_copy(update={"reserved_code1": "sm2:AAAA"}), key.public_hex)
    # two signatures of the same label differ: the nonce is fresh each time
    assert sig.sm2_sign(lab, key).reserved_code1 != lab.reserved_code1
    prop = sig.sm2_sign(lab.model_copy(update={"content_propagator": PLATFORM}), key, "propagator")
    assert sig.sm2_verify(prop, key.public_hex, "propagator") and sig.sm2_verify(prop, key.public_hex)
