"""Operator-supplied regular expressions, run with RE2 so that no pattern can hang the service.

Operators write patterns in the policy (``detectors.rules.rules``: name, pattern, risk, severity,
normalized). Python's ``re`` backtracks, so a pattern like ``(a+)+$`` takes exponential time on
``aaaa…!``; RE2 runs in time linear in the text for every pattern it accepts. What RE2 does not
accept (backreferences ``\\1``, look-around ``(?=…)``/``(?<!…)``, possessive quantifiers ...) fails at
policy load with the rule's name and RE2's reason, never at request time.

Scanning: all patterns of one text view (normalized or original) go into one ``re2.Set``; a single
pass over the text tells which rules match anywhere, and only those run ``finditer`` to get spans.
On clean text (the usual case) that is one linear pass however many rules there are.

Locality / ``max_lookback``: RE2 cannot tell how long a match can be, so each rule has a bound:
- ``max_chars`` when the rule gives one (an optional field of the rule; see ``RuleSpec``);
- else the exact longest match when the pattern is bounded and Python's parser reads it the same
  way (no RE2-only syntax such as ``\\p{Han}`` or ``[[:alpha:]]``);
- else ``DEFAULT_MAX_CHARS`` (64).
The detector's ``max_lookback`` is the largest of these. A stream moderator guarantees to find the
matches up to that length; ``check`` on a whole text still reports longer ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import re2

from hegui.moderation.pii import max_width
from hegui.moderation.types import Finding
from hegui.taxonomy import is_known_kind

if TYPE_CHECKING:
    from hegui.policy import Policy
    from hegui.text import NormalizedText

DEFAULT_MAX_CHARS = 64
MAX_MEM = 64 << 20  # per compiled pattern; RE2 refuses patterns whose automaton would be larger

# RE2-only syntax that Python's parser would misread; with it we do not trust a computed width
_RE2_ONLY = re.compile(r"\\[pPQECz]|\[\[:")


class RuleError(ValueError):
    """A rule that cannot be used; the message names the rule and gives the reason."""


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One operator rule. Mirrors ``hegui.policy.RuleConfig`` and adds ``max_chars``."""

    name: str
    pattern: str
    risk: str
    severity: int = 2
    normalized: bool = True
    max_chars: int | None = None

    @classmethod
    def of(cls, rule: Any) -> RuleSpec:
        """From a ``RuleConfig`` (or anything with the same attributes, or a dict)."""
        get = rule.get if isinstance(rule, dict) else lambda k, d=None: getattr(rule, k, d)
        return cls(
            name=str(get("name", "")),
            pattern=str(get("pattern", "")),
            risk=str(get("risk", "")),
            severity=get("severity", 2),
            normalized=get("normalized", True),
            max_chars=get("max_chars", None),
        )


def _options() -> re2.Options:
    opts = re2.Options()
    opts.log_errors = False  # we report errors ourselves, with the rule name
    opts.max_mem = MAX_MEM
    return opts


def _reason(e: Exception) -> str:
    arg = e.args[0] if e.args else e
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    regex: Any  # re2._Regexp
    max_chars: int


def compile_rule(spec: RuleSpec) -> CompiledRule:
    """Compile one rule with RE2 or raise ``RuleError`` naming it."""
    where = f"rule {spec.name!r}"
    if not spec.name:
        raise RuleError("a rule needs a name")
    if not is_known_kind(spec.risk):
        raise RuleError(f"{where}: unknown risk code {spec.risk!r}")
    if not 1 <= spec.severity <= 3:
        raise RuleError(f"{where}: severity must be 1, 2 or 3")
    if spec.max_chars is not None and not 1 <= spec.max_chars <= 4096:
        raise RuleError(f"{where}: max_chars must be between 1 and 4096")
    try:
        regex = re2.compile(spec.pattern, _options())
    except re2.error as e:
        raise RuleError(f"{where}: RE2 cannot compile {spec.pattern!r}: {_reason(e)}") from None
    if regex.search("") is not None:
        raise RuleError(f"{where}: pattern {spec.pattern!r} matches the empty string")
    return CompiledRule(spec, regex, spec.max_chars or _width(spec.pattern))


def _width(pattern: str) -> int:
    if not _RE2_ONLY.search(pattern):
        try:
            w = max_width(pattern)
        except (re.error, OverflowError, RecursionError):
            w = None
        if w is not None and w > 0:
            return min(w, 4096)
    return DEFAULT_MAX_CHARS


@dataclass
class _View:
    """The rules that run on one view of the text (normalized or original), with their Set."""

    rules: list[CompiledRule]
    rset: Any = None

    def __post_init__(self) -> None:
        if not self.rules:
            return
        self.rset = re2.Set.SearchSet(_options())
        for i, r in enumerate(self.rules):
            if self.rset.Add(r.spec.pattern) != i:  # pragma: no cover - compiled above already
                raise RuleError(f"rule {r.spec.name!r}: RE2 set rejected the pattern")
        try:
            self.rset.Compile()
        except re2.error:  # pragma: no cover - only when the combined automaton is too large
            raise RuleError("RE2 could not build the rule set (too large); split or simplify rules") from None

    def matching(self, text: str) -> list[CompiledRule]:
        if not self.rules:
            return []
        return [self.rules[i] for i in sorted(self.rset.Match(text) or ())]


@dataclass
class RuleDetector:
    rules: list[CompiledRule]
    name: str = "rules"
    max_lookback: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        names = [r.spec.name for r in self.rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise RuleError(f"duplicate rule names: {dup}")
        self._norm = _View([r for r in self.rules if r.spec.normalized])
        self._orig = _View([r for r in self.rules if not r.spec.normalized])
        self.max_lookback = max((r.max_chars for r in self.rules), default=0)

    @classmethod
    def from_specs(cls, specs: Iterable[RuleSpec | Any]) -> RuleDetector:
        return cls([compile_rule(s if isinstance(s, RuleSpec) else RuleSpec.of(s)) for s in specs])

    @classmethod
    def from_policy(cls, policy: Policy) -> RuleDetector:
        try:
            return cls.from_specs(policy.detectors.rules.rules)
        except RuleError as e:
            from hegui.policy import PolicyError

            raise PolicyError(policy.name, [(None, f"detectors.rules: {e}")]) from None

    def scan(self, text: NormalizedText) -> list[Finding]:
        out: list[Finding] = []
        for view, src in ((self._norm, text.normalized), (self._orig, text.original)):
            for rule in view.matching(src):
                for m in rule.regex.finditer(src):
                    s, e = m.start(), m.end()
                    if s == e:
                        continue
                    if view is self._norm:
                        s, e = text.span(s, e)
                    sp = rule.spec
                    out.append(
                        Finding(
                            sp.risk, self.name, s, e, text.original[s:e], sp.severity, 1.0, sp.name, "regex"
                        )
                    )
        out.sort(key=lambda f: (f.start, f.end, f.rule))
        return out


def validate_rules(rules: Sequence[Any]) -> list[str]:
    """Every problem with ``rules`` (empty when all compile); for ``hegui policy check``-style tools."""
    problems = []
    for r in rules:
        try:
            compile_rule(r if isinstance(r, RuleSpec) else RuleSpec.of(r))
        except RuleError as e:
            problems.append(str(e))
    return problems


__all__ = [
    "DEFAULT_MAX_CHARS",
    "CompiledRule",
    "RuleDetector",
    "RuleError",
    "RuleSpec",
    "compile_rule",
    "validate_rules",
]
