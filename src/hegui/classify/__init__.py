"""Learned detectors (issue 4): a trainable CPU text classifier and an LLM-judge backend.

Public API::

    from hegui.classify import ClassifierDetector, ClassifierModel, load_model
    det = ClassifierDetector.from_policy(policy)  # policy.detectors.classifier.model
    model = load_model("builtin:default")          # or a path to a .npz model file
    model.predict_proba_one("...")                  # {"A2.a": 0.03, "A2.d": 0.01, "A2.e": 0.91}

Training (scikit-learn, imported only there): :func:`hegui.classify.train.train`; data loading:
:func:`hegui.classify.data.load_examples`; metrics: :mod:`hegui.classify.evaluate`.
The LLM judge lives in :mod:`hegui.classify.judge` (``LLMJudgeDetector``). See docs/classifier.md.
"""

from __future__ import annotations

from hegui.classify.data import DataError, DatasetSpec, Example, load_examples
from hegui.classify.detector import DEFAULT_MODEL, ClassifierDetector, load_model, resolve_model_path
from hegui.classify.model import ClassifierModel, ModelError

__all__ = [
    "DEFAULT_MODEL",
    "ClassifierDetector",
    "ClassifierModel",
    "DataError",
    "DatasetSpec",
    "Example",
    "ModelError",
    "load_examples",
    "load_model",
    "resolve_model_path",
]
