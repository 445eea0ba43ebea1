"""The Moderator: runs the policy's detectors over a text and applies the policy to the findings.

It only orchestrates. Detectors find; the policy decides (``decide``). Both ``check`` and the
StreamModerator go through ``decide`` so a stream and a whole text get the same verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from hegui.moderation.types import Action, Detector, Finding, Verdict
from hegui.policy import Policy, default_policy
from hegui.text import NormalizedText, normalize

if TYPE_CHECKING:
    from hegui.moderation.stream import StreamModerator

ROLES = ("input", "output")


def build_detectors(policy: Policy) -> list[Detector]:
    """The detectors the policy turns on, in a fixed order (cheap pattern detectors first)."""
    cfg = policy.detectors
    found: list[Detector] = []
    if cfg.lexicon.enabled:
        from hegui.moderation.lexicon import LexiconDetector

        found.append(LexiconDetector.from_policy(policy))
    if cfg.pii.enabled:
        from hegui.moderation.pii import PIIDetector

        found.append(PIIDetector.from_policy(policy))
    if cfg.rules.enabled and cfg.rules.rules:
        from hegui.moderation.rules import RuleDetector

        found.append(RuleDetector.from_policy(policy))
    if cfg.injection.enabled:
        from hegui.moderation.injection import InjectionDetector

        found.append(InjectionDetector.from_policy(policy))
    if cfg.classifier.enabled:
        from hegui.classify import ClassifierDetector

        found.append(ClassifierDetector.from_policy(policy))
    if cfg.llm_judge.enabled:
        from hegui.classify.judge import LLMJudgeDetector

        found.append(LLMJudgeDetector.from_policy(policy))
    return found


def _roles_of(det: Detector, policy: Policy) -> tuple[str, ...]:
    # Injection heuristics are about what users ask, not what models say.
    if det.name == "injection" and not policy.detectors.injection.on_output:
        return ("input",)
    return tuple(getattr(det, "roles", ROLES))


def _dedupe(findings: Iterable[Finding]) -> list[Finding]:
    """Drop exact repeats (same risk, span, rule) keeping the strongest; order by position."""
    best: dict[tuple[str, int, int, str, str], Finding] = {}
    for f in findings:
        key = (f.risk, f.start, f.end, f.rule, f.detector)
        cur = best.get(key)
        if cur is None or (f.severity, f.score) > (cur.severity, cur.score):
            best[key] = f
    return sorted(best.values(), key=lambda f: (f.start, f.end, f.risk, f.rule))


def action_for(policy: Policy, finding: Finding) -> Action:
    rule = policy.rule_for(finding.risk)
    if finding.severity < rule.min_severity or finding.score < rule.min_score:
        return rule.low_action
    return rule.action


def mask_spans(text: str, findings: Sequence[Finding], policy: Policy) -> str:
    """Replace each masked span; PII keeps its own partial-mask style where the detector offers one."""
    spans = sorted((f.start, f.end) for f in findings)
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out: list[str] = []
    pos = 0
    for s, e in merged:
        out.append(text[pos:s])
        out.append(policy.mask_message if e - s > 0 else "")
        pos = e
    out.append(text[pos:])
    return "".join(out)


def decide(policy: Policy, text: str, findings: list[Finding]) -> Verdict:
    """Apply the policy: the strongest action over all findings wins."""
    if not findings:
        return Verdict(flagged=False, action=Action.ALLOW, findings=[])
    actions = [action_for(policy, f) for f in findings]
    action = max(actions)
    kept = [f for f, a in zip(findings, actions, strict=True) if a > Action.ALLOW]
    verdict = Verdict(flagged=action > Action.ALLOW, action=action, findings=kept)
    if action == Action.MASK:
        to_mask = [f for f, a in zip(findings, actions, strict=True) if a == Action.MASK]
        verdict.masked_text = mask_spans(text, to_mask, policy)
    elif action >= Action.REFUSE:
        refusing = [f.risk for f, a in zip(findings, actions, strict=True) if a >= Action.REFUSE]
        verdict.refusal = policy.refusal_for(refusing)
    return verdict


class Moderator:
    """``Moderator(policy).check(text) -> Verdict``. Thread-safe once built (detectors are read-only)."""

    def __init__(self, policy: Policy | None = None, detectors: list[Detector] | None = None):
        self.policy = policy if policy is not None else default_policy()
        self.detectors: list[Detector] = (
            list(detectors) if detectors is not None else build_detectors(self.policy)
        )
        self._by_role = {
            role: [d for d in self.detectors if role in _roles_of(d, self.policy)] for role in ROLES
        }

    @classmethod
    def from_policy_file(cls, path: str) -> Moderator:
        from hegui.policy import load_policy

        return cls(load_policy(path))

    def detectors_for(self, role: str) -> list[Detector]:
        try:
            return self._by_role[role]
        except KeyError:
            raise ValueError(f"role must be 'input' or 'output', not {role!r}") from None

    def scan(self, text: str | NormalizedText, role: str = "output") -> list[Finding]:
        """Every finding of every detector for ``role``, before the policy is applied."""
        nt = text if isinstance(text, NormalizedText) else normalize(clean_text(text))
        found: list[Finding] = []
        for det in self.detectors_for(role):
            found.extend(det.scan(nt))
        return _dedupe(found)

    def check(self, text: str, role: str = "output") -> Verdict:
        text = clean_text(text)
        return decide(self.policy, text, self.scan(text, role))

    def check_many(self, texts: Iterable[str], role: str = "output") -> list[Verdict]:
        return [self.check(t, role) for t in texts]

    def stream(self, role: str = "output", **options: Any) -> StreamModerator:
        from hegui.moderation.stream import StreamModerator

        return StreamModerator(self, role=role, **options)


def clean_text(text: str) -> str:
    """Lone surrogates cannot be encoded anywhere downstream (logs, JSON, UTF-8): replace them."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # one U+FFFD per surrogate keeps every offset valid
        text = _SURROGATE.sub("\ufffd", text)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")
