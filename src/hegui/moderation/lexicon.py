"""Keyword lexicons: loading (TSV/CSV/YAML, ``builtin:seed``) and the lexicon detector.

The detector compiles everything it matches into two Aho-Corasick automata (``ahocorasick-rs``,
DFA, overlapping search) that run over the two views of ``hegui.text.normalize``:

* automaton A over ``normalized``: every term and listed variant (folded), the exceptions, the
  full pinyin spellings and consonant initials of the terms, and the component strings of the
  terms' characters (split characters, only for characters that occur in terms);
* automaton B over ``phonetic``: the toneless-syllable keys of terms with at least
  ``homophone_min_chars`` characters, and of their exceptions.

Matching is overlapping (every occurrence of every pattern), so a finding never depends on where
a stream window starts. Python only touches the matches, never the characters of the text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import ahocorasick_rs

from hegui.moderation.types import Finding
from hegui.taxonomy import EXTRA_KINDS, load_taxonomy
from hegui.text import NormalizedText, fold, is_cjk
from hegui.text._tables import BUCKETS, char_syllable_ids, phonetics, syllable_bucket
from hegui.text.forms import benign_words, pinyin_forms, split_forms, syllable_readings

if TYPE_CHECKING:
    from hegui.policy import Policy

BUILTIN_SEED = "builtin:seed"
COLUMNS = ("term", "risk", "severity", "variants", "exceptions", "tags")
FORMATS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".yaml": "yaml", ".yml": "yaml"}


class LexiconError(ValueError):
    """A lexicon file is malformed; the message starts with ``file:line:``."""


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    term: str
    risk: str  # Appendix A code or "injection"
    severity: int = 2
    variants: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()  # longer benign words containing the term (大麻烦 for 大麻)
    tags: tuple[str, ...] = ()
    source: str = ""  # "file:line" it came from

    def to_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "risk": self.risk,
            "severity": self.severity,
            "variants": list(self.variants),
            "exceptions": list(self.exceptions),
            "tags": list(self.tags),
        }


def _known_risks() -> frozenset[str]:
    return frozenset(load_taxonomy().codes) | frozenset(EXTRA_KINDS)


def _split_list(v: object) -> tuple[str, ...]:
    if v is None:
        return ()
    items = [str(x) for x in v] if isinstance(v, list | tuple) else str(v).split("|")
    return tuple(s for x in items if (s := x.strip()))


def make_entry(row: dict[str, Any], where: str, risks: frozenset[str] | None = None) -> LexiconEntry:
    """Validate one raw row (from any format) into an entry; errors name ``where``."""
    risks = risks if risks is not None else _known_risks()
    term = str(row.get("term") or "").strip()
    if not term:
        raise LexiconError(f"{where}: empty term")
    risk = str(row.get("risk") or "").strip()
    if not risk:
        raise LexiconError(f"{where}: term {term!r} has no risk code")
    if risk not in risks:
        raise LexiconError(
            f"{where}: unknown risk code {risk!r} for term {term!r} (expected A1.a ... A5.b or injection)"
        )
    sev_raw = row.get("severity")
    if sev_raw is None or str(sev_raw).strip() == "":
        severity = 2
    else:
        try:
            severity = int(str(sev_raw).strip())
        except ValueError:
            severity = 0
        if severity not in (1, 2, 3):
            raise LexiconError(f"{where}: bad severity {sev_raw!r} for term {term!r} (expected 1, 2 or 3)")
    variants = _split_list(row.get("variants"))
    exceptions = _split_list(row.get("exceptions"))
    if exceptions:
        keys = [k for k in (fold(term), *(fold(v) for v in variants)) if k]
        for ex in exceptions:
            fx = fold(ex)
            if not any(k in fx for k in keys):
                raise LexiconError(
                    f"{where}: exception {ex!r} does not contain the term {term!r} or a variant"
                )
    return LexiconEntry(term, risk, severity, variants, exceptions, _split_list(row.get("tags")), where)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as e:
        raise LexiconError(f"{name}:1: not UTF-8 or GB18030 text ({e.reason} at byte {e.start})") from None


def _parse_delimited(text: str, name: str, delimiter: str) -> list[LexiconEntry]:
    risks = _known_risks()
    columns: Sequence[str] = COLUMNS
    header_seen = False
    out: list[LexiconEntry] = []
    if delimiter == "\t":
        # a plain split is ~5x faster than the csv module for 100k rows; TSV has no quoting
        rows: Iterable[tuple[int, list[str]]] = (
            (i, line.rstrip("\r\n").split("\t")) for i, line in enumerate(text.splitlines(), 1)
        )
    else:
        reader = csv.reader(io.StringIO(text))
        rows = ((reader.line_num, r) for r in reader)
    for lineno, cells in rows:
        if not cells or not "".join(cells).strip() or cells[0].lstrip().startswith("#"):
            continue
        if not header_seen:
            header_seen = True
            if cells[0].strip().lower() == "term":
                names = [c.strip().lower() for c in cells]
                unknown = [c for c in names if c and c not in COLUMNS]
                if unknown:
                    raise LexiconError(
                        f"{name}:{lineno}: unknown column(s) {unknown}; expected {list(COLUMNS)}"
                    )
                if "risk" not in names:
                    raise LexiconError(f"{name}:{lineno}: header has no 'risk' column")
                columns = names
                continue
        if len(cells) > len(columns):
            raise LexiconError(f"{name}:{lineno}: {len(cells)} columns, expected at most {len(columns)}")
        out.append(make_entry(dict(zip(columns, cells, strict=False)), f"{name}:{lineno}", risks))
    return out


def _parse_yaml(text: str, name: str) -> list[LexiconEntry]:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise LexiconError(f"{name}:{line}: invalid YAML: {getattr(e, 'problem', e)}") from None
    if data is None:
        return []
    if isinstance(data, dict):  # also accept {entries: [...]} / {terms: [...]}
        key = next((k for k in ("entries", "terms") if k in data), None)
        if key is None:
            raise LexiconError(f"{name}:1: expected a list of entries (or a mapping with 'entries')")
        data = data[key]
        node = next(v for k, v in node.value if k.value == key)  # type: ignore[union-attr]
    if not isinstance(data, list):
        raise LexiconError(f"{name}:1: expected a list of entries")
    risks = _known_risks()
    out = []
    for item, item_node in zip(data, node.value, strict=True):  # type: ignore[union-attr]
        where = f"{name}:{item_node.start_mark.line + 1}"
        if not isinstance(item, dict):
            raise LexiconError(f"{where}: entry must be a mapping with term, risk, ...")
        unknown = [k for k in item if k not in COLUMNS]
        if unknown:
            raise LexiconError(f"{where}: unknown key(s) {unknown}; expected {list(COLUMNS)}")
        out.append(make_entry(item, where, risks))
    return out


def parse_lexicon(data: bytes | str, name: str, fmt: str = "tsv") -> list[LexiconEntry]:
    text = data if isinstance(data, str) else _decode(data, name)
    if fmt == "tsv":
        return _parse_delimited(text, name, "\t")
    if fmt == "csv":
        return _parse_delimited(text, name, ",")
    if fmt == "yaml":
        return _parse_yaml(text, name)
    raise LexiconError(f"{name}: unknown lexicon format {fmt!r}")


def _format_of(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise LexiconError(f"{name}: unknown lexicon file type {suffix!r}; use .tsv, .csv, .yaml")
    return FORMATS[suffix]


class Lexicon:
    """An ordered list of entries (duplicates kept: the audit reports them; the detector merges)."""

    def __init__(self, entries: Iterable[LexiconEntry] = ()) -> None:
        self.entries: list[LexiconEntry] = list(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[LexiconEntry]:
        return iter(self.entries)

    def __repr__(self) -> str:
        return f"Lexicon({len(self.entries)} entries)"

    @classmethod
    def from_entries(cls, entries: Iterable[LexiconEntry | dict[str, Any]]) -> Self:
        risks = _known_risks()
        out = []
        for i, e in enumerate(entries, 1):
            out.append(e if isinstance(e, LexiconEntry) else make_entry(e, f"<entries>:{i}", risks))
        return cls(out)

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        p = Path(path)
        if not p.is_file():
            raise LexiconError(f"{p}: lexicon file not found")
        return cls(parse_lexicon(p.read_bytes(), str(p), _format_of(p.name)))

    @classmethod
    def builtin_seed(cls) -> Self:
        """Every lexicon file under package data ``hegui/data/lexicons/seed/`` (empty if none)."""
        root = resources.files("hegui.data").joinpath("lexicons").joinpath("seed")
        if not root.is_dir():
            return cls()
        entries: list[LexiconEntry] = []
        for item in sorted(root.iterdir(), key=lambda t: t.name):
            suffix = Path(item.name).suffix.lower()
            if item.is_file() and suffix in FORMATS and suffix != ".txt":
                name = f"{BUILTIN_SEED}/{item.name}"
                entries.extend(parse_lexicon(item.read_bytes(), name, FORMATS[suffix]))
        return cls(entries)

    @classmethod
    def merge(cls, *lexicons: Lexicon) -> Self:
        return cls(e for lex in lexicons for e in lex.entries)

    def __add__(self, other: Lexicon) -> Lexicon:
        return Lexicon.merge(self, other)

    def terms(self) -> list[str]:
        return [e.term for e in self.entries]

    def count_by_risk(self) -> dict[str, int]:
        """Distinct terms per risk code."""
        seen: dict[str, set[str]] = {}
        for e in self.entries:
            seen.setdefault(e.risk, set()).add(e.term)
        return {k: len(v) for k, v in seen.items()}


def load_lexicon(paths: str | Path | Iterable[str | Path]) -> Lexicon:
    """Load and merge lexicons; ``builtin:seed`` stands for the shipped seed files."""
    if isinstance(paths, str | Path):
        paths = [paths]
    parts = [Lexicon.builtin_seed() if str(p) == BUILTIN_SEED else Lexicon.from_file(p) for p in paths]
    return Lexicon.merge(*parts)


# --------------------------------------------------------------------------------------------
# detector

VARIANT_SCORES = {
    "exact": 1.0,
    "normalized": 1.0,
    "variant": 1.0,  # a variant listed in the lexicon row
    "split": 0.9,
    "homophone": 0.7,
    "pinyin": 0.7,
    "initials": 0.5,
}
# when two ways find the same term at the same place, report the most certain
_RANK = {
    k: i for i, k in enumerate(("exact", "variant", "normalized", "split", "homophone", "pinyin", "initials"))
}

# pattern roles
_TERM, _VARIANT, _EXC, _PINYIN, _INITIALS, _SPLIT = range(6)


@dataclass(frozen=True)
class LexiconOptions:
    pinyin: bool = True
    # Consonant-only initials (qj, nmsl). Two-letter initials collide with ordinary Latin tokens in
    # Chinese text (measured on COLD: pk, mj, cp, hr, tm, gt ... each hit some term of a 10k
    # lexicon), so by default only terms of >= 3 characters get them; an entry tagged
    # ``initials`` gets them at any length (诈骗 -> zp).
    initials: bool = True
    initials_min_chars: int = 3
    homophones: bool = True
    split_chars: bool = True
    homophone_min_chars: int = 3
    pinyin_min_chars: int = 2
    scores: dict[str, float] = field(default_factory=lambda: dict(VARIANT_SCORES))


@dataclass(frozen=True, slots=True)
class _Entry:
    term: str  # canonical term (rule)
    key: str  # folded term
    risk: str
    severity: int
    exc_ids: frozenset[int]  # ids of exception groups this entry honours
    latin: bool  # an all-Latin key: only whole words count (sex is not in Essex)


class _Patterns:
    """Pattern -> list of (role, entry index, extra) targets, deduplicated."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.targets: list[list[tuple[int, int, Any]]] = []

    def add(self, pattern: Any, role: int, entry: int, extra: Any = "") -> None:
        if not pattern:
            return
        pid = self.index.get(pattern)
        if pid is None:
            pid = self.index[pattern] = len(self.targets)
            self.targets.append([])
        t = (role, entry, extra)
        if t not in self.targets[pid]:
            self.targets[pid].append(t)

    def automaton(self) -> Any:
        if not self.index:
            return None
        pats = list(self.index)
        impl = ahocorasick_rs.Implementation.DFA
        if isinstance(pats[0], bytes):
            return ahocorasick_rs.BytesAhoCorasick(pats, implementation=impl)
        return ahocorasick_rs.AhoCorasick(pats, implementation=impl)

    def longest(self) -> int:
        return max((len(p) for p in self.index), default=0)


def _latin_word_char(ch: str) -> bool:
    f = fold(ch)
    return bool(f) and f.isascii() and f.isalnum()


def _whole_word(orig: str, start: int, end: int) -> bool:
    return not (start > 0 and _latin_word_char(orig[start - 1])) and not (
        end < len(orig) and _latin_word_char(orig[end])
    )


class LexiconDetector:
    """Finds lexicon terms and their evasions. ``scan`` returns findings with ORIGINAL offsets.

    Per message the work is: one automaton pass over ``normalized`` (terms, variants,
    exceptions), one over a one-byte-per-character syllable view (homophones), and a few numpy
    operations over the code points that find component pairs (split characters) and Latin
    letters (pinyin); Python code runs per candidate match only.
    """

    name = "lexicon"

    def __init__(self, lexicon: Lexicon, options: LexiconOptions | None = None) -> None:
        self.options = opts = options or LexiconOptions()
        self.lexicon = lexicon
        a, b = _Patterns(), _Patterns()
        entries: list[_Entry] = []
        index: dict[tuple[str, str], int] = {}
        exc_groups: dict[str, int] = {}  # folded exception -> group id
        merged: list[dict[str, Any]] = []
        for e in lexicon.entries:
            key = fold(e.term)
            if not key:
                continue  # a term of symbols only; the audit reports it
            i = index.get((key, e.risk))
            if i is None:
                i = index[(key, e.risk)] = len(merged)
                merged.append(
                    {"e": e, "key": key, "sev": e.severity, "var": set(), "exc": set(), "tags": set()}
                )
            m = merged[i]
            m["sev"] = max(m["sev"], e.severity)
            m["var"].update(e.variants)
            m["exc"].update(e.exceptions)
            m["tags"].update(e.tags)
        # split characters: component string -> composed chars; composed char -> the chars that
        # precede / follow it in some term (a component run whose neighbours fit no term is
        # dropped without further work)
        split_map: dict[str, list[str]] = {}
        split_ctx: dict[str, tuple[set[str], set[str]]] = {}
        for i, m in enumerate(merged):
            e, key = m["e"], m["key"]
            exc_ids = set()
            for ex in m["exc"]:
                fx = fold(ex)
                if fx:
                    gid = exc_groups.setdefault(fx, len(exc_groups))
                    exc_ids.add(gid)
                    a.add(fx, _EXC, gid)
            is_latin = key.isascii() and key.isalnum()
            entries.append(_Entry(e.term, key, e.risk, m["sev"], frozenset(exc_ids), is_latin))
            a.add(key, _TERM, i, e.term)
            forms = [key]
            for v in sorted(m["var"]):
                fv = fold(v)
                if fv:
                    a.add(fv, _VARIANT, i, v)
                    forms.append(fv)
            for form in forms:
                if not all(is_cjk(c) for c in form):
                    continue
                if opts.pinyin and len(form) >= opts.pinyin_min_chars:
                    full, ini = pinyin_forms(form)
                    for p in full:
                        a.add(p, _PINYIN, i)
                    if opts.initials and ("initials" in m["tags"] or len(form) >= opts.initials_min_chars):
                        for p in ini:
                            a.add(p, _INITIALS, i)
                if opts.homophones and len(form) >= opts.homophone_min_chars:
                    for k in syllable_keys(form):
                        b.add(_bucket_bytes(k), _TERM, i, (k, form))
                if opts.split_chars and len(form) >= 2:
                    for pos, ch in enumerate(form):
                        comps = split_forms(ch)
                        if not comps:
                            continue
                        for comp in comps:
                            split_map.setdefault(comp, [])
                            if ch not in split_map[comp]:
                                split_map[comp].append(ch)
                        left, right = split_ctx.setdefault(ch, (set(), set()))
                        if pos > 0:
                            left.add(form[pos - 1])
                        if pos < len(form) - 1:
                            right.add(form[pos + 1])
        if opts.homophones:  # exceptions in syllable space too, so they also shield homophones
            for fx, gid in exc_groups.items():
                if all(is_cjk(c) for c in fx):
                    for k in syllable_keys(fx):
                        b.add(_bucket_bytes(k), _EXC, gid, (k, fx))
        for comp, chars in split_map.items():
            for ch in chars:
                a.add(comp, _SPLIT, -1, ch)
        self._entries = entries
        self._a_targets, self._a = a.targets, a.automaton()
        self._b_targets, self._b = b.targets, b.automaton()
        self._split_ctx = {ch: (frozenset(lt), frozenset(rt)) for ch, (lt, rt) in split_ctx.items()}
        self._benign = benign_words() if split_map else frozenset()
        self._sid_of = char_syllable_ids() if self._b is not None else {}
        self._bucket = syllable_bucket() if self._b is not None else None
        # term-only automaton for the recombined (split) view
        terms_only = _Patterns()
        for pattern, pid in a.index.items():
            for role, i, extra in a.targets[pid]:
                if role in (_TERM, _VARIANT):
                    terms_only.add(pattern, role, i, extra)
        self._t_targets, self._t = terms_only.targets, terms_only.automaton()
        self._t_longest = terms_only.longest()
        # the longest pattern in normalized characters (pinyin letters count one each)
        self.max_lookback = max(a.longest(), b.longest())

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_policy(cls, policy: Policy) -> Self:
        cfg = policy.detectors.lexicon
        opts = LexiconOptions(
            pinyin=cfg.pinyin,
            initials=cfg.pinyin,
            homophones=cfg.homophones,
            split_chars=cfg.split_chars,
            homophone_min_chars=cfg.homophone_min_chars,
        )
        return cls(load_lexicon(cfg.paths), opts)

    def __len__(self) -> int:
        return len(self._entries)

    # ------------------------------------------------------------------ scanning
    def scan(self, text: NormalizedText) -> list[Finding]:
        norm = text.normalized
        if not norm:
            return []
        found: dict[tuple[int, int, int], str] = {}
        if self._a is not None:
            # a str haystack, not our own UTF-8 bytes: ahocorasick-rs converts the byte offsets
            # of the hits to characters in Rust, cheaper than any Python conversion (measured:
            # bytes + conversion in Python was 4 us per message slower)
            hits = self._a.find_matches_as_indexes(norm, overlapping=True)
            if hits:
                self._terms(text, hits, found)
        if self._b is not None and self._bucket is not None:
            hits = self._b.find_matches_as_indexes(text.view8(self._bucket), overlapping=True)
            if hits:
                self._homophones(norm, hits, found)
        return self._findings(text, found) if found else []

    def _terms(
        self, text: NormalizedText, hits: list[tuple[int, int, int]], found: dict[tuple[int, int, int], str]
    ) -> None:
        exc: dict[int, list[tuple[int, int]]] = {}
        latin: list[tuple[int, int, int, int]] = []
        runs: list[tuple[int, int, str]] = []
        targets = self._a_targets
        norm = text.normalized
        n = len(norm)
        ctx = self._split_ctx
        for pid, s, e in hits:
            for role, i, extra in targets[pid]:
                if role == _SPLIT:
                    # component runs are most of the hits in ordinary text; keep only those whose
                    # neighbours can continue a term containing the composed char
                    left, right = ctx[extra]
                    if (s > 0 and norm[s - 1] in left) or (e < n and norm[e] in right):
                        runs.append((s, e, extra))
                elif role <= _VARIANT:
                    k = (i, s, e)
                    found[k] = _best(found.get(k), "variant" if role == _VARIANT else "normalized")
                elif role == _EXC:
                    exc.setdefault(i, []).append((s, e))
                else:
                    latin.append((i, s, e, role))
        if exc:
            for k in [k for k in found if self._excepted(k, exc)]:
                del found[k]
        if latin:
            self._latin(text, latin, found)
        if runs:
            self._split(text.normalized, runs, found)

    def _excepted(self, key: tuple[int, int, int], spans: dict[int, list[tuple[int, int]]]) -> bool:
        ent = self._entries[key[0]]
        if not ent.exc_ids:
            return False
        s, e = key[1], key[2]
        for gid in ent.exc_ids:
            for xs, xe in spans.get(gid, ()):
                if xs <= s and e <= xe:
                    return True
        return False

    def _homophones(
        self,
        norm: str,
        hits: list[tuple[int, int, int]],
        found: dict[tuple[int, int, int], str],
    ) -> None:
        """Candidates come from one-byte syllable buckets; keep those whose exact syllable ids
        match, and that are not the term itself (automaton A reports those). The ids of the few
        candidate characters are looked up one by one (a dict), not gathered for the whole
        text."""
        sid = self._sid_of.get
        exc: dict[int, list[tuple[int, int]]] = {}
        cand: list[tuple[int, int, int]] = []
        for pid, s, e in hits:
            seg = norm[s:e]
            ids: tuple[int | None, ...] | None = None
            for role, i, (key, form) in self._b_targets[pid]:
                if seg == form:  # the form itself: automaton A reports terms
                    if role == _EXC:
                        exc.setdefault(i, []).append((s, e))
                    continue
                if ids is None:
                    ids = tuple(map(sid, seg))
                if ids != key:
                    continue  # same buckets, different syllables
                if role == _EXC:
                    exc.setdefault(i, []).append((s, e))
                else:
                    cand.append((i, s, e))
        for k in cand:
            if k not in found and not (exc and self._excepted(k, exc)):
                found[k] = "homophone"

    def _latin(
        self,
        text: NormalizedText,
        latin: list[tuple[int, int, int, int]],
        found: dict[tuple[int, int, int], str],
    ) -> None:
        """Pinyin and initials count only as whole Latin words of the original text
        (``zha pian`` yes, ``zhapianist`` no)."""
        orig = text.original
        for i, s, e, role in latin:
            os_, oe = text.span(s, e)
            if _whole_word(orig, os_, oe):
                k = (i, s, e)
                found[k] = _best(found.get(k), "pinyin" if role == _PINYIN else "initials")

    def _split(
        self, norm: str, runs: list[tuple[int, int, str]], found: dict[tuple[int, int, int], str]
    ) -> None:
        """Recombine component runs (女干 -> 奸) into a third view and look for terms there,
        around the recombined characters only. A run counts only when its neighbours can
        continue some term containing the composed char (checked by ``_terms``), and not when
        one of its components is bound into an ordinary word with its neighbour (女干部: 干部),
        so ordinary text does not turn into terms by accident."""
        n = len(norm)
        benign = self._benign
        runs.sort(key=lambda t: (t[0], -(t[1] - t[0])))
        chosen: list[tuple[int, int, str]] = []
        last = 0
        for s, e, ch in runs:
            if s < last or _bound(norm, s, e, benign):
                continue
            chosen.append((s, e, ch))
            last = e
        if not chosen or self._t is None:
            return
        parts: list[str] = []
        starts: list[int] = []  # view index -> normalized start / end
        ends: list[int] = []
        recombined: set[int] = set()
        pos = 0
        for s, e, ch in chosen:
            parts.append(norm[pos:s])
            starts.extend(range(pos, s))
            ends.extend(range(pos + 1, s + 1))
            recombined.add(len(starts))
            parts.append(ch)
            starts.append(s)
            ends.append(e)
            pos = e
        parts.append(norm[pos:])
        starts.extend(range(pos, n))
        ends.extend(range(pos + 1, n + 1))
        view = "".join(parts)
        # rescan only around recombined characters (a term cannot reach further than the longest)
        reach = self._t_longest
        windows: list[list[int]] = []
        for j in sorted(recombined):
            lo, hi = max(0, j - reach + 1), min(len(view), j + reach)
            if windows and lo <= windows[-1][1]:
                windows[-1][1] = hi
            else:
                windows.append([lo, hi])
        for lo, hi in windows:
            for pid, s, e in self._t.find_matches_as_indexes(view[lo:hi], overlapping=True):
                s += lo
                e += lo
                if e - s < 2 or not any(j in recombined for j in range(s, e)):
                    continue
                ns, ne = starts[s], ends[e - 1]
                for _role, i, _extra in self._t_targets[pid]:
                    k = (i, ns, ne)
                    found[k] = _best(found.get(k), "split")

    def _findings(self, text: NormalizedText, found: dict[tuple[int, int, int], str]) -> list[Finding]:
        keys = sorted(found, key=_by_position)
        os_, oe = text.spans([k[1] for k in keys], [k[2] for k in keys])
        orig = text.original
        scores = self.options.scores
        entries = self._entries
        name = self.name
        out = []
        for k, a, b in zip(keys, os_, oe, strict=True):
            ent = entries[k[0]]
            kind = found[k]
            if ent.latin and kind in ("normalized", "variant") and not _whole_word(orig, a, b):
                continue
            matched = orig[a:b]
            if kind == "normalized" and matched == ent.term:
                kind = "exact"
            # positional: keyword arguments double the cost of building the frozen dataclass
            # (risk, detector, start, end, matched, severity, score, rule, variant)
            out.append(
                Finding(ent.risk, name, a, b, matched, ent.severity, scores.get(kind, 1.0), ent.term, kind)
            )
        return out


def syllable_keys(form: str) -> list[tuple[int, ...]]:
    """Syllable-id sequences (1 + id, as in ``syllable_index``) of an all-CJK folded form."""
    ids = phonetics().syllable_id
    return [tuple(ids[s] + 1 for s in reading) for reading in syllable_readings(form)]


def _bucket_bytes(ids: tuple[int, ...]) -> bytes:
    return bytes((i - 1) % BUCKETS + 1 for i in ids)


def _by_position(k: tuple[int, int, int]) -> tuple[int, int, int]:
    return k[1], k[2], k[0]


def _best(old: str | None, new: str) -> str:
    if old is None or _RANK[new] < _RANK[old]:
        return new
    return old


def _bound(norm: str, s: int, e: int, benign: frozenset[str]) -> bool:
    """Is the first or last component of ``norm[s:e]`` part of a common word with its neighbours?"""
    for n in (2, 3, 4):
        # words that start with the last component and run past the run
        if e - 1 + n <= len(norm) and norm[e - 1 : e - 1 + n] in benign:
            return True
        # words that end with the first component and start before the run
        if s + 1 - n >= 0 and norm[s + 1 - n : s + 1] in benign:
            return True
    return False


__all__ = [
    "BUILTIN_SEED",
    "Lexicon",
    "LexiconDetector",
    "LexiconEntry",
    "LexiconError",
    "LexiconOptions",
    "VARIANT_SCORES",
    "load_lexicon",
    "make_entry",
    "parse_lexicon",
]
