"""The moderation engine: ``Moderator(policy).check(text) -> Verdict`` and ``.stream()``.

Detectors (lexicon, PII, rules, injection, classifier, LLM judge) implement ``Detector`` and are
built from the policy; the Moderator orchestrates them and applies the policy.
"""

from hegui.moderation.engine import Moderator, build_detectors, decide
from hegui.moderation.stream import StreamModerator, StreamUpdate
from hegui.moderation.types import Action, Detector, Finding, Verdict

__all__ = [
    "Action",
    "Detector",
    "Finding",
    "Moderator",
    "StreamModerator",
    "StreamUpdate",
    "Verdict",
    "build_detectors",
    "decide",
]
