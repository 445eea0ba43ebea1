"""Training, the model file, the detector."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from hegui.classify import ClassifierDetector, ClassifierModel, ModelError, load_model
from hegui.classify.detector import resolve_model_path
from hegui.classify.evaluate import evaluate_probs, reliability, tune_thresholds
from hegui.classify.features import CharNgramHasher
from hegui.classify.train import TrainConfig, TrainError, train
from hegui.moderation.types import Detector
from hegui.policy import default_policy
from hegui.text import normalize

from .conftest import synthetic_examples


def test_hasher_is_stable_and_normalized() -> None:
    h = CharNgramHasher(1, 3, 1 << 16)
    i1, v1 = h.transform("女生都是废物", None)
    i2, v2 = CharNgramHasher(1, 3, 1 << 16).transform("女生都是废物", None)  # fresh memo, same buckets
    assert sorted(i1.tolist()) == sorted(i2.tolist())
    assert np.isclose(np.linalg.norm(v1), 1.0)
    assert len(h.bucket_counts("ab")) == 2 + 3 + 2  # 1-grams a,b; 2-grams ^a ab b$; 3-grams ^ab ab$
    with pytest.raises(ValueError):
        CharNgramHasher(3, 2)


def test_trained_model_separates_attacks_from_discussion(tiny_model_path: Path) -> None:
    m = ClassifierModel.load(tiny_model_path)
    assert m.risks == ["A2.d", "A2.e"]
    p_attack = m.predict_proba_one("妇女都是废物，滚远点")
    p_region = m.predict_proba_one("河南人全是骗子，恶心死了")
    p_neutral = m.predict_proba_one("有些妇女喜欢周末去爬山")
    assert p_attack["A2.e"] > 0.7 and p_attack["A2.e"] > p_attack["A2.d"]
    assert p_region["A2.d"] > 0.7
    assert max(p_neutral.values()) < 0.3
    assert m.meta["command"] == "test" and m.meta["train_rows"] > 0


def test_save_load_roundtrip_is_exact(tiny_model_path: Path, tmp_path: Path) -> None:
    m = ClassifierModel.load(tiny_model_path)
    again = ClassifierModel.load(m.save(tmp_path / "copy.npz"))
    texts = ["上海人就是蠢", "我准备考研究生"]
    assert np.allclose(m.predict_proba(texts), again.predict_proba(texts))
    assert again.thresholds == m.thresholds


def test_model_file_holds_no_pickle(tiny_model_path: Path) -> None:
    with np.load(tiny_model_path, allow_pickle=False) as z:  # would raise on object arrays
        assert {"weights", "bias", "idf", "meta"} <= set(z.files)
        assert json.loads(bytes(z["meta"]).decode())["format"] == "hegui-classifier/1"


def test_bad_model_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        ClassifierModel.load(tmp_path / "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a Hegui classifier"):
        ClassifierModel.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros((1, 4)), bias=np.zeros(1), idf=np.zeros(4),
             meta=np.frombuffer(b'{"format": "x/9"}', dtype=np.uint8))  # fmt: skip
    with pytest.raises(ModelError, match="unsupported model format"):
        ClassifierModel.load(other)
    with pytest.raises(ModelError, match="no built-in classifier model"):
        resolve_model_path("builtin:nope")


def test_training_rejects_one_class_data() -> None:
    ex = [e for e in synthetic_examples() if not e.risks]
    with pytest.raises(TrainError, match="no positive"):
        train(ex, TrainConfig(n_buckets=1 << 12))
    ex = [e for e in synthetic_examples() if e.risks]
    with pytest.raises(TrainError, match="no safe rows"):
        train(ex, TrainConfig(n_buckets=1 << 12))


def test_ovr_kind_trains_and_calibrates() -> None:
    m = train(synthetic_examples(), TrainConfig(kind="ovr", n_buckets=1 << 14, C=4.0))
    assert m.kind == "ovr" and len(m.platt) == 2
    assert m.predict_proba_one("东北人都是废物，滚远点")["A2.d"] > 0.6


def test_detector_protocol_and_findings(tiny_model_path: Path) -> None:
    det = ClassifierDetector(ClassifierModel.load(tiny_model_path), thresholds={"A2.d": 0.99}, threshold=0.5)
    assert isinstance(det, Detector) and det.name == "classifier" and det.max_lookback == 0
    text = "  男生就是蠢，脑子有病 "
    found = det.scan(normalize(text))
    assert [f.risk for f in found] == ["A2.e"]
    f = found[0]
    assert (f.start, f.end, f.matched) == (0, len(text), text)
    assert f.detector == "classifier" and 0.5 <= f.score <= 1.0 and f.severity in (2, 3)
    assert det.scan(normalize("我在研究新的菜谱")) == []
    assert det.scan(normalize("   ")) == []
    # policy value beats the model's tuned value; a very high policy threshold silences the risk
    assert det.thresholds["A2.d"] == 0.99
    probe = normalize("上海人有些是骗子")
    p = det.probabilities(probe)["A2.d"]
    above = ClassifierDetector(det.model, thresholds={"A2.d": min(1.0, p + 1e-3), "A2.e": 1.0})
    below = ClassifierDetector(det.model, thresholds={"A2.d": max(0.0, p - 1e-3), "A2.e": 1.0})
    assert above.scan(probe) == [] and [f.risk for f in below.scan(probe)] == ["A2.d"]


def test_threshold_precedence(tiny_model_path: Path) -> None:
    m = ClassifierModel.load(tiny_model_path)
    m.thresholds = {"A2.e": 0.3}
    assert m.threshold_for("A2.e", {}, 0.5) == 0.3
    assert m.threshold_for("A2.e", {"A2.e": 0.8}, 0.5) == 0.8
    assert m.threshold_for("A2.d", {}, 0.6) == 0.6


def test_from_policy_loads_builtin_default_fast() -> None:
    path = resolve_model_path("builtin:default")
    assert path.stat().st_size < 20 * 1024 * 1024
    t0 = time.perf_counter()
    ClassifierModel.load(path)
    assert time.perf_counter() - t0 < 1.0
    pol = default_policy().model_copy(deep=True)
    pol.detectors.classifier.thresholds = {"A2.e": 0.77}
    det = ClassifierDetector.from_policy(pol)
    assert set(det.model.risks) == {"A2.a", "A2.d", "A2.e"}
    assert det.thresholds["A2.e"] == 0.77
    assert load_model("builtin:default") is load_model("builtin:default")  # loaded once


def test_metrics_helpers() -> None:
    ex = synthetic_examples()[:20]
    risks = ["A2.d", "A2.e"]
    truth = np.array([[r in e.risks for r in risks] for e in ex], dtype=float)
    rep = evaluate_probs(ex, risks, truth, {"A2.d": 0.5, "A2.e": 0.5})
    assert rep.accuracy == 1.0 and rep.macro_f1 == 1.0 and rep.group_discussion_fpr == 0.0
    assert all(c.f1 == 1.0 for c in rep.per_class if c.support)
    inverted = evaluate_probs(ex, risks, 1 - truth, {"A2.d": 0.5, "A2.e": 0.5})
    assert inverted.ece == 1.0 and all(c.f1 == 0.0 for c in inverted.per_class)
    bins, ece = reliability(np.array([0.05, 0.95, 0.95, 0.05]), np.array([False, True, False, False]), 10)
    assert sum(b.count for b in bins) == 4 and ece == pytest.approx(0.05 * 0.5 + 0.45 * 0.5)
    th = tune_thresholds(ex, risks, truth * 0.6 + 0.2)
    assert 0.2 < th["A2.e"] <= 0.8


def test_normalizer_defeats_separator_and_width_evasion(tiny_model_path: Path) -> None:
    m = ClassifierModel.load(tiny_model_path)
    plain = m.predict_proba_one("男生就是蠢，脑子有病")["A2.e"]
    evasive = m.predict_proba_one("男 . 生 就 是 蠢 ， 脑 子 有 病")["A2.e"]
    wide = m.predict_proba_one("男生就是蠢，腦子有病")["A2.e"]  # traditional form of one character
    assert abs(plain - evasive) < 1e-6 and abs(plain - wide) < 1e-6
    m.normalize_input = False  # the same model without the normalizer is fooled by separators
    assert m.predict_proba_one("男 . 生 就 是 蠢 ， 脑 子 有 病")["A2.e"] < plain - 0.1


def test_default_model_on_cold_dev(shared_data: Path) -> None:
    """The shipped model's recorded COLD dev figures hold (docs/classifier.md)."""
    from hegui.classify.data import load_examples

    dev = load_examples(shared_data / "COLD" / "dev.csv")
    m = load_model("builtin:default")
    rep = evaluate_probs(dev, m.risks, m.predict_proba([e.text for e in dev]), m.thresholds)
    assert rep.accuracy > 0.85 and rep.macro_f1 > 0.85  # published BERT baseline: ~0.81 accuracy
    assert rep.group_discussion_fpr is not None and rep.group_discussion_fpr < 0.15
    assert rep.ece < 0.05
