"""Prompt-injection and jailbreak heuristics for Chinese and English prompts (risk kind ``injection``).

The phrase patterns are data (``hegui/data/injection/patterns.yaml``: id, view, lang, severity,
why, pattern) so reviewers can read and extend them without touching code. They run on:
- the normalized text (lower case, simplified, spaces/punctuation deleted) for phrasings, which
  makes ``I.g.n.o.r.e  previous instructions`` and ``忽略 之前的 指令`` read the same;
- the original text for delimiter tricks (``<|im_start|>system``, ``### System:``), whose
  punctuation the normalizer would delete;
- the ROT13 of the normalized text for the English patterns (ROT13 keeps offsets).

Encoded payloads: long base64 and hex blobs in the original text are decoded. A blob that decodes
to readable text is reported (severity 1: hiding text in an encoding is itself suspicious); if the
decoded text contains an injection phrase, or ``inner`` (e.g. the lexicon detector) finds something
in it, the finding gets that severity (at least 2) and ``rule`` names what was inside
(``base64:zh_ignore_previous``, ``base64:lexicon:<term>``).

Locality: every pattern is bounded, so ``max_lookback`` is the longest pattern match; blobs are
decoded in aligned pieces of at most ``BLOB_MAX`` characters, which is the lookback they add.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Literal

import yaml

from hegui.moderation.pii import max_width
from hegui.moderation.types import Detector, Finding
from hegui.taxonomy import INJECTION

if TYPE_CHECKING:
    from hegui.policy import Policy
    from hegui.text import NormalizedText

BLOB_MIN = 24  # shorter base64 runs are ordinary identifiers and tokens
BLOB_MAX = 512  # longer blobs are decoded piece by piece (512 is a multiple of 4: pieces stay aligned)
HEX_MIN = 32
_SCORES = {1: 0.5, 2: 0.75, 3: 0.95}

# no look-behind: a run longer than BLOB_MAX continues as the next (aligned) piece, and "key=<b64>"
# still starts a blob
_B64 = re.compile(rf"[A-Za-z0-9+/]{{{BLOB_MIN},{BLOB_MAX}}}={{0,2}}")
_HEX = re.compile(rf"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{{2}}){{{HEX_MIN // 2},{BLOB_MAX // 2}}}(?![0-9A-Fa-f])")
_ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM",
)


@dataclass(frozen=True)
class InjectionPattern:
    id: str
    pattern: re.Pattern[str]
    severity: int
    why: str
    view: Literal["normalized", "original"] = "normalized"
    lang: Literal["en", "zh", "any"] = "any"

    @property
    def max_len(self) -> int:
        w = max_width(self.pattern)
        if w is None:
            raise ValueError(f"injection pattern {self.id}: unbounded pattern")
        return w


def load_patterns(path: str | None = None) -> list[InjectionPattern]:
    """The pattern set from ``path`` (YAML) or the shipped one; errors name the entry."""
    if path is None:
        text = resources.files("hegui.data").joinpath("injection/patterns.yaml").read_text("utf-8")
        where = "builtin injection/patterns.yaml"
    else:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        where = path
    doc = yaml.safe_load(text) or {}
    out: list[InjectionPattern] = []
    seen: set[str] = set()
    for i, e in enumerate(doc.get("patterns") or []):
        pid = str(e.get("id") or f"#{i}")
        try:
            if pid in seen:
                raise ValueError("duplicate id")
            seen.add(pid)
            sev = int(e.get("severity", 2))
            view = e.get("view", "normalized")
            lang = e.get("lang", "any")
            if (
                sev not in (1, 2, 3)
                or view not in ("normalized", "original")
                or lang not in ("en", "zh", "any")
            ):
                raise ValueError("severity must be 1-3, view normalized|original, lang en|zh|any")
            if not e.get("why"):
                raise ValueError("missing 'why'")
            pat = InjectionPattern(pid, re.compile(e["pattern"], re.IGNORECASE), sev, e["why"], view, lang)
            _ = pat.max_len  # reject unbounded patterns now, not at scan time
        except (KeyError, TypeError, ValueError, re.error) as err:
            raise ValueError(f"{where}: pattern {pid}: {err}") from None
        out.append(pat)
    if not out:
        raise ValueError(f"{where}: no patterns")
    return out


@dataclass
class InjectionDetector:
    patterns: list[InjectionPattern]
    decode_blobs: bool = True
    rot13: bool = True
    inner: Detector | None = None  # re-run on decoded payloads (e.g. the lexicon detector)
    name: str = "injection"
    max_lookback: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._norm = [p for p in self.patterns if p.view == "normalized"]
        self._orig = [p for p in self.patterns if p.view == "original"]
        self._en = [p for p in self._norm if p.lang == "en"]
        # one RE2 set per pattern list: which patterns match at all, in one linear pass (about
        # 1 µs for a prompt) instead of ~40 ``finditer`` calls (about 75 µs); only those then run
        self._norm_set, self._orig_set, self._en_set = map(_PatternSet, (self._norm, self._orig, self._en))
        longest = max((p.max_len for p in self.patterns), default=0)
        self.max_lookback = max(longest, BLOB_MAX + 2) if self.decode_blobs else longest

    @classmethod
    def from_policy(cls, policy: Policy) -> InjectionDetector:
        # the policy section has no knobs beyond on/off and on_output (the engine reads those)
        _ = policy.detectors.injection
        return cls(load_patterns())

    # --- scanning ---------------------------------------------------------------------------------
    def scan(self, text: NormalizedText) -> list[Finding]:
        out: list[Finding] = []
        orig = text.original
        for p, s, e in self._phrase_hits(text.normalized, self._norm_set):
            s, e = text.span(s, e)
            out.append(self._finding(p.id, p.severity, s, e, orig, "pattern"))
        for p, s, e in self._phrase_hits(orig, self._orig_set):
            out.append(self._finding(p.id, p.severity, s, e, orig, "pattern"))
        if self.rot13 and self._en:
            for p, s, e in self._phrase_hits(text.normalized.translate(_ROT13), self._en_set):
                s, e = text.span(s, e)
                out.append(self._finding(f"rot13:{p.id}", p.severity, s, e, orig, "rot13"))
        if self.decode_blobs:
            out.extend(self._blobs(orig))
        out.sort(key=lambda f: (f.start, f.end, f.rule))
        return out

    def check_phrases(self, text: str) -> list[InjectionPattern]:
        """The patterns that fire on ``text`` (normalized first); for decoded payloads."""
        from hegui.text import normalize

        nt = normalize(text)
        hits = {p.id: p for p, _, _ in self._phrase_hits(nt.normalized, self._norm_set)}
        hits.update({p.id: p for p, _, _ in self._phrase_hits(text, self._orig_set)})
        return sorted(hits.values(), key=lambda p: -p.severity)

    @staticmethod
    def _phrase_hits(text: str, patterns: _PatternSet) -> Iterator[tuple[InjectionPattern, int, int]]:
        for p in patterns.candidates(text):
            for m in p.pattern.finditer(text):
                if m.end() > m.start():
                    yield p, m.start(), m.end()

    def _finding(self, rule: str, sev: int, s: int, e: int, orig: str, variant: str) -> Finding:
        return Finding(INJECTION, self.name, s, e, orig[s:e], sev, _SCORES[sev], rule, variant)

    def _blobs(self, orig: str) -> Iterator[Finding]:
        for kind, rx in (("base64", _B64), ("hex", _HEX)):
            for m in rx.finditer(orig):
                decoded = _decode(kind, m.group())
                if decoded is None:
                    continue
                sev, rule = 1, kind
                inside = self.check_phrases(decoded)
                if inside:
                    sev, rule = max(2, inside[0].severity), f"{kind}:{inside[0].id}"
                elif self.inner is not None:
                    from hegui.text import normalize

                    found = self.inner.scan(normalize(decoded))
                    if found:
                        top = max(found, key=lambda f: f.severity)
                        sev, rule = max(2, top.severity), f"{kind}:{top.detector}:{top.rule}"
                yield self._finding(rule, sev, m.start(), m.end(), orig, kind)


class _PatternSet:
    """An RE2 set over Python patterns, used only to skip patterns that cannot match. RE2's ``\\s``
    is ASCII whitespace where Python's is Unicode, so it is widened to a class holding every
    character Python counts as space. A pattern with another escape RE2 reads differently
    (``\\w \\b \\d``...), or that RE2 rejects, stays out of the set and always runs."""

    def __init__(self, patterns: Sequence[InjectionPattern]):
        import re2  # google-re2, already used by the rules detector

        self._set = re2.Set.SearchSet(re2.Options())
        self._in_set: list[int] = []  # set index -> pattern index
        self._always: list[int] = []
        for i, p in enumerate(patterns):
            body = _re2_syntax(p.pattern.pattern)
            if body is not None and p.pattern.flags & re.IGNORECASE:
                body = "(?i)" + body
            try:
                if body is None:
                    raise ValueError
                self._set.Add(body)
                self._in_set.append(i)
            except Exception:  # noqa: BLE001 (the binding raises a bare error type)
                self._always.append(i)
        self._set.Compile()
        self._patterns = list(patterns)

    def candidates(self, text: str) -> list[InjectionPattern]:
        hits = self._set.Match(text) or ()
        idx = sorted([self._in_set[h] for h in hits] + self._always)
        return [self._patterns[i] for i in idx]


_SPACE_CLASS = r"\s\p{Z}\x{85}\x{0b}\x{1c}-\x{1f}"  # Python's str.isspace() characters


def _re2_syntax(pattern: str) -> str | None:
    """``pattern`` with ``\\s`` widened for RE2, or None if it uses an escape RE2 reads differently."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt == "s":
                out.append(_SPACE_CLASS if in_class else f"[{_SPACE_CLASS}]")
            elif nxt in "wWbBdDSAZ":
                return None
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


def _decode(kind: str, blob: str) -> str | None:
    """The text a blob encodes, or None when it is not readable text (hashes, keys, random ids)."""
    try:
        if kind == "hex":
            raw = bytes.fromhex(blob)
        else:
            body = blob.rstrip("=")
            if len(body) % 4 == 1:
                return None
            raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(s) < 6:
        return None
    printable = sum(c.isprintable() or c in "\n\t\r" for c in s)
    letters = sum(c.isalpha() for c in s)
    # readable text: nearly all printable and mostly letters/CJK (not packed binary that happens
    # to be valid UTF-8)
    if printable / len(s) < 0.95 or letters / len(s) < 0.5:
        return None
    return s


def rot13(text: str) -> str:
    return codecs.encode(text, "rot13")


__all__ = ["BLOB_MAX", "InjectionDetector", "InjectionPattern", "load_patterns", "rot13"]
