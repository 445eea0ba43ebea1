"""Personal-information detection: pluggable recognizers (Presidio-style) behind one Detector.

Each recognizer finds one kind of personal information with a bounded regex and then *validates*
the candidate (checksums, dates, region codes, IP parsing), so random digit strings do not fire.
Add your own with ``@register`` (a class with the ``Recognizer`` attributes) and list its name in
``policy.detectors.pii.types``.

Which text each recognizer reads (``source``):
- ``original``: ID numbers, phones, landlines, bank cards, e-mail, passports, IP addresses. The
  patterns accept full-width digits (０-９) and letters themselves, so they need no normalizer, and
  they keep exact offsets even if normalization ever folds or drops digits and separators.
  Licence plates too (the province class lists simplified and traditional characters): the
  normalizer deletes the spaces and dots that end a plate, so "京A12345 123" would read as one run.
- ``normalized``: street addresses, made of Chinese characters the normalizer folds (traditional ->
  simplified) and often written with spaces or commas between parts, which it deletes
  ("北京市 朝阳区，建国路 88 号" reads as one address); offsets go back through ``NormalizedText.span``.

Locality: every pattern has bounded quantifiers and at most one character of look-around, so a
match depends only on itself plus one character each side; ``max_len`` of each recognizer is the
longest match its pattern can produce (computed from the pattern, not typed by hand), and the
detector's ``max_lookback`` is the largest ``max_len`` (+1 for the look-ahead) among those enabled.
The only extra context is the context-word boost of passports (score only, never whether it fires).

Masking (``mask``) keeps separators and the shape of the value and replaces characters in place
(the output has the input's length, so masks of overlapping findings combine):
- ``cn_id``: first 6 and last 4 kept: ``110105********0021`` (region kept, birth date hidden)
- ``cn_mobile``: first 3 and last 4 digits of the national number, country code kept: ``+86 138****5678``
- ``cn_landline``: area code and last 4 digits kept: ``010-****5678``
- ``bank_card``: first 4 and last 4 kept: ``6222 **** **** 1234``
- ``email``: first character of the local part and the domain kept: ``z*******@example.com``
- ``passport``: first letter and last 2 kept: ``E******78``
- ``cn_plate``: province and issuing letter kept: ``京A*****``
- ``ipv4``: first two octets kept ``192.168.*.*``; ``ipv6``: first two groups kept
- ``cn_address``: house, building and room numbers hidden, place names kept: ``建国路**号*栋***室``
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from hegui.moderation.types import Finding

if TYPE_CHECKING:
    from hegui.policy import Policy
    from hegui.text import NormalizedText

PERSONAL_INFO = "A4.f"  # GB/T 45654 A.4.f 个人信息权益

try:  # the parser moved in 3.11; it is only used to compute the longest match of our patterns
    import re._parser as _sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]


def max_width(pattern: str | re.Pattern[str]) -> int | None:
    """Longest string a Python regex can match, or None when unbounded."""
    p = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    flags = pattern.flags if isinstance(pattern, re.Pattern) else 0
    hi = _sre_parse.parse(p, flags).getwidth()[1]
    return None if hi >= _sre_parse.MAXREPEAT else int(hi)


# --- character classes shared by the patterns ---------------------------------------------------
D = "[0-9０-９]"  # a digit, half- or full-width
ND = "(?<![0-9０-９])"  # not preceded by a digit
NA = "(?![0-9０-９])"  # not followed by a digit
SEP = "[ \\-－]"  # a separator people type inside long numbers


_SPACES = frozenset(chr(c) for c in range(0x3001) if chr(c).isspace())


def _class_chars(op: Any, arg: Any) -> set[str] | None:
    """The characters one parsed regex item (a literal or a ``[...]`` class) can match, or None
    when that is not a plain set (negated classes, ``\\w``, ``\\d``)."""
    name = str(op)
    if name == "LITERAL":
        return {chr(arg)}
    if name != "IN":
        return None
    out: set[str] = set()
    for iop, iarg in arg:
        iname = str(iop)
        if iname == "LITERAL":
            out.add(chr(iarg))
        elif iname == "RANGE":
            out.update(map(chr, range(iarg[0], iarg[1] + 1)))
        elif iname == "CATEGORY" and str(iarg) == "CATEGORY_SPACE":
            out |= _SPACES
        else:
            return None
    return out


def pattern_alphabet(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Every character a match of ``pattern`` can contain, or None when that is not a plain set
    (``.``, ``\\w``, ``\\d``, negated classes ...). Look-behinds are skipped (they read text already
    seen); look-aheads count, as they may read past the match, except that ``(?!X)[C]`` with X one
    character class contributes C minus X (the address pattern's place-name character: any Han
    character but a function word). Used by the stream moderator:
    a match still open at the end of the text is made of these characters only."""
    chars: set[str] = set()

    def walk(items: Any) -> bool:
        items = list(items)
        i = 0
        while i < len(items):
            op, arg = items[i]
            name = str(op)
            if name in ("LITERAL", "IN"):
                got = _class_chars(op, arg)
                if got is None:
                    return False
                chars.update(got)
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                if not walk(arg[2]):
                    return False
            elif name == "SUBPATTERN":
                if not walk(arg[-1]):
                    return False
            elif name == "BRANCH":
                if not all(walk(b) for b in arg[1]):
                    return False
            elif name in ("ASSERT", "ASSERT_NOT") and arg[0] == 1:  # look-ahead
                body = list(arg[1])
                banned = _class_chars(*body[0]) if len(body) == 1 else None
                allowed = _class_chars(*items[i + 1]) if i + 1 < len(items) else None
                if name == "ASSERT_NOT" and banned is not None and allowed is not None:
                    # (?!X)[C]: a restriction on the next character only
                    chars.update(allowed - banned)
                    i += 2
                    continue
                # any other look-ahead may read characters past the match: they count too, so that
                # a match whose look-ahead is still unresolved at the end stays open
                if not walk(body):
                    return False
            elif name not in ("ASSERT", "ASSERT_NOT", "AT", "GROUPREF"):
                return False  # ANY, NOT_LITERAL, GROUPREF_EXISTS ...: not a small set
            i += 1
        return True

    if not walk(_sre_parse.parse(pattern.pattern, pattern.flags)):
        return None
    if pattern.flags & re.IGNORECASE:
        chars |= {c.swapcase() for c in chars}
    return frozenset(chars)


def _digits(s: str) -> str:
    """ASCII digits of ``s`` (full-width digits folded), other characters dropped."""
    return "".join(str(int(c)) for c in s if c.isdecimal())


def _fold(s: str) -> str:
    """Fold full-width ASCII (digits, letters, ``＋``) to half-width."""
    return "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in s)


def mask_chars(
    s: str, keep_head: int, keep_tail: int, mask_char: str = "*", which: Callable[[str], bool] = str.isalnum
) -> str:
    """Replace the characters for which ``which`` is true, except the first ``keep_head`` and last
    ``keep_tail`` of them; everything else (separators, Chinese text) stays. Same length out."""
    idx = [i for i, c in enumerate(s) if which(c)]
    hide = idx[keep_head : len(idx) - keep_tail if keep_tail else None]
    if len(hide) == 0 and idx:
        hide = idx  # too short to keep anything: hide it all
    out = list(s)
    for i in hide:
        out[i] = mask_char
    return "".join(out)


# --- the recognizer protocol and registry --------------------------------------------------------
@runtime_checkable
class Recognizer(Protocol):
    """One kind of personal information. ``find`` yields ``(start, end, score)`` spans of the text
    it is given (the original or the normalized text, as ``source`` says)."""

    @property
    def name(self) -> str: ...
    @property
    def risk(self) -> str: ...
    @property
    def severity(self) -> int: ...
    @property
    def source(self) -> Literal["original", "normalized"]: ...
    @property
    def max_len(self) -> int: ...

    def find(self, text: str) -> Iterator[tuple[int, int, float]]: ...

    def mask(self, matched: str, mask_char: str = "*") -> str: ...


REGISTRY: dict[str, Callable[[], Recognizer]] = {}


_F = TypeVar("_F", bound=Callable[[], Any])


def register(factory: _F) -> _F:
    """Register a recognizer class (or factory) under the ``name`` of the instance it builds."""
    rec = factory()
    if not isinstance(rec, Recognizer):
        raise TypeError(f"{factory!r} does not build a Recognizer")
    if rec.name in REGISTRY:
        raise ValueError(f"PII recognizer {rec.name!r} is already registered")
    REGISTRY[rec.name] = factory
    return factory


def recognizers(types: Sequence[str] = ()) -> list[Recognizer]:
    """Instances of the named recognizers (all of them when ``types`` is empty)."""
    unknown = [t for t in types if t not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown PII type(s) {unknown}; known: {sorted(REGISTRY)}")
    return [REGISTRY[n]() for n in (types or list(REGISTRY))]


class RegexRecognizer:
    """A recognizer made of one bounded regex plus a ``validate`` hook returning a score or None.

    Speed: ``gate`` is a cheap regex for a substring that EVERY match contains (a digit run, ``@``,
    a province character ...). Texts without it are skipped; in long texts the full pattern only
    runs on windows around gate hits. A window reaches ``pad = max_len + 2 + context`` characters
    beyond the farthest place a match containing the hit could reach, and only matches at least
    ``pad`` characters inside a window's cut edges are kept: a spurious match that starts at a cut
    edge (where look-behind cannot see the real neighbour) is at most ``max_len`` long, so it can
    neither be kept nor overlap a real match. Results are the same as a whole-text scan.
    """

    name: ClassVar[str]
    risk: ClassVar[str] = PERSONAL_INFO
    severity: ClassVar[int] = 2
    source: ClassVar[Literal["original", "normalized"]] = "original"
    pattern: ClassVar[re.Pattern[str]]
    gate: ClassVar[re.Pattern[str] | None] = None
    context: ClassVar[int] = 0  # characters before a match that ``validate``/scoring may read
    score: ClassVar[float] = 0.9
    keep: ClassVar[tuple[int, int]] = (0, 0)
    WHOLE_TEXT_BELOW: ClassVar[int] = 1024  # shorter texts that pass the gate are scanned whole

    @property
    def max_len(self) -> int:
        w = max_width(self.pattern)
        if w is None:
            raise ValueError(f"recognizer {self.name}: its pattern must be bounded")
        return w

    def validate(self, m: re.Match[str]) -> float | None:
        return self.score

    def scan_all(self, text: str) -> Iterator[tuple[int, int, float]]:
        """Every validated match of ``pattern`` in ``text`` (no gate, no windows)."""
        for m in self.pattern.finditer(text):
            score = self.validate(m)
            if score is not None:
                yield m.start(), m.end(), score

    def find(self, text: str) -> Iterator[tuple[int, int, float]]:
        gate = self.gate
        if gate is None:
            yield from self.scan_all(text)
            return
        first = gate.search(text)
        if first is None:
            return
        n = len(text)
        if n < self.WHOLE_TEXT_BELOW:
            yield from self.scan_all(text)
            return
        reach = self.max_len
        pad = reach + 2 + self.context
        windows: list[list[int]] = []
        for g in gate.finditer(text, first.start()):
            a, b = max(0, g.start() - reach - pad), min(n, g.end() + reach + pad)
            if windows and a <= windows[-1][1]:
                windows[-1][1] = max(windows[-1][1], b)
            else:
                windows.append([a, b])
        for a, b in windows:
            lo = 0 if a == 0 else pad
            hi = b - a if b == n else b - a - pad
            for s, e, score in self.scan_all(text[a:b]):
                if s >= lo and e <= hi:
                    yield s + a, e + a, score

    def mask(self, matched: str, mask_char: str = "*") -> str:
        return mask_chars(matched, *self.keep, mask_char=mask_char)


# --- Chinese resident identity card (GB 11643-1999) -----------------------------------------------
# Province-level codes of GB/T 2260: the first digit is the region (1 North, 2 North-East, 3 East,
# 4 Central-South, 5 South-West, 6 North-West, 7 Taiwan, 8 Hong Kong/Macao), the second counts
# the provinces inside it. Built from those counts, not typed as a list.
_REGION_SIZES = {1: 5, 2: 3, 3: 7, 4: 6, 5: 4, 6: 5}
PROVINCE_CODES: frozenset[str] = frozenset(
    {f"{r}{i}" for r, n in _REGION_SIZES.items() for i in range(1, n + 1)}
    | {"50"}  # Chongqing, a municipality numbered 0 in the South-West
    | {"71", "81", "82"}
)
_ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]  # 2^(17-i) mod 11: ISO 7064 MOD 11-2
_ID_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def valid_cn_id(value: str, today: _dt.date | None = None) -> bool:
    """True for a well-formed 18-character ID: province prefix, real birth date (1900..today),
    and checksum. Full-width digits/X and one separator after the region and the date are accepted."""
    v = _fold(value).replace(" ", "").replace("-", "").upper()
    if len(v) != 18 or not v[:17].isdigit() or not (v[17].isdigit() or v[17] == "X"):
        return False
    if v[:2] not in PROVINCE_CODES:
        return False
    try:
        born = _dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > (today or _dt.date.today()):
        return False
    return id_check_char(v[:17]) == v[17]


@register
class CnIdRecognizer(RegexRecognizer):
    name = "cn_id"
    gate = re.compile(f"{D}{{6}}")
    severity = 3
    score = 0.99
    keep = (6, 4)
    pattern = re.compile(
        rf"{ND}[1-9１-９]{D}{{5}}{SEP}?(?:1[89]|20|１[８９]|２０){D}{{2}}{D}{{4}}{SEP}?{D}{{3}}[0-9０-９XxＸｘ](?![0-9０-９A-Za-z])"
    )

    def validate(self, m: re.Match[str]) -> float | None:
        return self.score if valid_cn_id(m.group()) else None


# --- mobile and landline numbers ------------------------------------------------------------------
@register
class CnMobileRecognizer(RegexRecognizer):
    name = "cn_mobile"
    gate = re.compile(f"[1１][3-9３-９]{D}")
    score = 0.9
    # +86 / 0086 / (+86) prefix, then 1[3-9]x and 8 digits written 3-4-4 with one consistent separator
    pattern = re.compile(
        rf"(?<![0-9０-９+＋])(?:(?:[+＋]|00|００)\s?(?:86|８６)\s?[\-－]?\s?|[(（][+＋]?(?:86|８６)[)）]\s?)?"
        rf"[1１][3-9３-９]{D}(?P<s>{SEP}?){D}{{4}}(?P=s){D}{{4}}{NA}"
    )
    _prefix = re.compile(r"^(?:[+＋]|00|００)?\s?[(（]?[+＋]?(?:86|８６)[)）]?\s?[\-－]?\s?(?=[1１])")

    def mask(self, matched: str, mask_char: str = "*") -> str:
        p = self._prefix.match(matched)
        cut = p.end() if p and len(_digits(matched)) > 11 else 0
        return matched[:cut] + mask_chars(matched[cut:], 3, 4, mask_char)


# Area codes: 010 and 02x are three digits (Beijing and the big cities), all others 03xx-09xx.
_AREA = rf"(?:[0０](?:[1１][0０]|[2２]{D})|[0０][3-9３-９]{D}{{2}})"


@register
class CnLandlineRecognizer(RegexRecognizer):
    name = "cn_landline"
    gate = re.compile(f"{D}{{7}}")
    score = 0.8
    pattern = re.compile(
        rf"{ND}(?:[(（](?P<a1>{_AREA})[)）]\s?|(?P<a2>{_AREA})(?P<s>{SEP}?))[2-8２-８]{D}{{6,7}}{NA}"
    )

    def validate(self, m: re.Match[str]) -> float | None:
        separated = m.group("a1") is not None or bool(m.group("s"))
        return self.score if separated else 0.6  # a bare 0xxxxxxxxxx is weaker evidence

    def mask(self, matched: str, mask_char: str = "*") -> str:
        m = self.pattern.fullmatch(matched)
        area = (m.group("a1") or m.group("a2")) if m else ""
        cut = matched.find(area) + len(area) if area else 0
        return matched[:cut] + mask_chars(matched[cut:], 0, 4, mask_char)


# --- bank cards -----------------------------------------------------------------------------------
def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_scheme(digits: str) -> str | None:
    """The issuer scheme of a card number by its IIN, or None for prefixes we do not accept."""
    if digits.startswith("62"):
        return "unionpay"
    if digits.startswith("4"):
        return "visa"
    two, four = int(digits[:2]), int(digits[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if 3528 <= four <= 3589:
        return "jcb"
    if digits.startswith(("6011", "65")):
        return "discover"
    return None


@register
class BankCardRecognizer(RegexRecognizer):
    name = "bank_card"
    gate = re.compile(f"{D}{{4}}")
    severity = 3
    score = 0.9
    keep = (4, 4)
    pattern = re.compile(rf"{ND}{D}(?:{SEP}?{D}){{15,18}}{NA}")

    def validate(self, m: re.Match[str]) -> float | None:
        raw = m.group()
        digits = _digits(raw)
        groups = [g for g in re.split(SEP, raw)]
        if len(groups) > 1:
            # people group cards 4-4-4-4(-3) or 6-13 (some 19-digit UnionPay cards); other
            # splits are more likely lists of numbers than a card
            sizes = [len(g) for g in groups]
            fours = all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4
            if not (fours or sizes == [6, 13]):
                return None
        if card_scheme(digits) is None or not luhn_ok(digits):
            return None
        return self.score


# --- e-mail ---------------------------------------------------------------------------------------
@register
class EmailRecognizer(RegexRecognizer):
    name = "email"
    gate = re.compile("@")
    score = 0.95
    # bounded on purpose (local part <= 32, then <= 3 labels of <= 20 and a TLD of <= 6) to keep
    # max_lookback near 100: a longer local part is still found by its last 32 characters and masked.
    pattern = re.compile(
        r"[A-Za-z0-9._%+\-]{1,32}@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,18}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,6}(?![A-Za-z0-9\-])"
    )

    def validate(self, m: re.Match[str]) -> float | None:
        local = m.group().split("@", 1)[0]
        if local.startswith(".") or local.endswith(".") or ".." in local:
            return None
        return self.score

    def mask(self, matched: str, mask_char: str = "*") -> str:
        local, _, domain = matched.partition("@")
        return local[:1] + mask_char * (len(local) - 1) + "@" + domain


# --- passports and travel permits ------------------------------------------------------------------
@register
class PassportRecognizer(RegexRecognizer):
    """Chinese passports: ordinary E + 8 digits or E + letter + 7 digits (2012 series), older G +
    8 digits; diplomatic/service/public D, S, P + 7 digits; Mainland Travel Permit for HK/Macao
    residents H/M + 8 (or 10) digits; Exit-Entry Permit to HK/Macao C + 8 digits or C + letter +
    7 digits. Short codes like these also name products, so the score is low unless a context
    word (护照, passport, 通行证 ...) precedes the number within ``context`` characters."""

    name = "passport"
    gate = re.compile("[0-9]{7}")
    context = 12
    severity = 3
    score = 0.6
    keep = (1, 2)
    pattern = re.compile(
        r"(?<![A-Za-z0-9])(?:[EGeg][0-9]{8}|[Ee][A-HJ-NP-Za-hj-np-z][0-9]{7}|[DSPdsp][0-9]{7}"
        r"|[HMhm][0-9]{8}(?:[0-9]{2})?|[Cc][0-9]{8}|[Cc][A-HJ-NP-Za-hj-np-z][0-9]{7})(?![A-Za-z0-9])"
    )
    _context = re.compile(r"护照|通行证|passport|證件|证件|证号", re.IGNORECASE)

    def scan_all(self, text: str) -> Iterator[tuple[int, int, float]]:
        for m in self.pattern.finditer(text):
            near = text[max(0, m.start() - self.context) : m.start()]
            yield m.start(), m.end(), 0.95 if self._context.search(near) else self.score


# --- vehicle licence plates ------------------------------------------------------------------------
PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# the same provinces in traditional characters, as people in Hong Kong/Taiwan or IMEs type them
PLATE_PROVINCES_TRAD = "滬雲遼魯蘇贛晉陝閩貴粵寧瓊"
_PL = "[A-HJ-NP-Za-hj-np-z]"  # plate letters exclude I and O
_PA = "[A-HJ-NP-Za-hj-np-z0-9]"


@register
class CnPlateRecognizer(RegexRecognizer):
    """Province character + issuing-authority letter + 5 characters (ordinary) or 6 (new energy:
    D/F first for small cars, last for large ones); an optional middle dot or space; trailing
    学/警/挂 for learner, police and trailer plates."""

    name = "cn_plate"
    # province + issuing letter: a province character alone is common in running text
    gate = re.compile(f"[{PLATE_PROVINCES}{PLATE_PROVINCES_TRAD}]{_PL}")
    score = 0.85
    keep = (2, 0)
    pattern = re.compile(
        rf"[{PLATE_PROVINCES}{PLATE_PROVINCES_TRAD}]{_PL}[·•・ ]?"
        rf"(?:[DFdf]{_PA}[0-9]{{4}}|[0-9]{{5}}[DFdf]|{_PA}{{4}}[学學警挂掛]|{_PA}{{5}})(?![A-Za-z0-9])"
    )

    def validate(self, m: re.Match[str]) -> float | None:
        tail = m.group()[2:]
        # real plates carry at least three digits; "苏ABCDE"-like letter runs are words, not plates
        return self.score if sum(c.isdigit() for c in tail) >= 3 else None

    def mask(self, matched: str, mask_char: str = "*") -> str:
        return matched[:2] + mask_chars(matched[2:], 0, 0, mask_char, which=lambda c: c.isalnum())


# --- IP addresses ----------------------------------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"


@register
class IPv4Recognizer(RegexRecognizer):
    name = "ipv4"
    gate = re.compile(r"[0-9]\.[0-9]")
    context = 10
    score = 0.8
    pattern = re.compile(rf"(?<![0-9A-Za-z.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9]|\.[0-9])")

    _version = re.compile(r"(?:版本|版本号|version|ver|v)\s*[:：]?\s*$", re.IGNORECASE)

    def validate(self, m: re.Match[str]) -> float | None:
        if self._version.search(m.string[max(0, m.start() - 10) : m.start()]):
            return None  # "版本 1.2.3.4", "v1.2.3.4": a version number, not an address
        ip = ipaddress.IPv4Address(m.group())
        # addresses that identify nobody: unspecified, loopback, multicast, reserved, broadcast
        if ip.is_unspecified or ip.is_loopback or ip.is_multicast or ip.is_reserved:
            return None
        return self.score

    def mask(self, matched: str, mask_char: str = "*") -> str:
        parts = matched.split(".")
        return ".".join(parts[:2] + [mask_char * len(p) for p in parts[2:]])


@register
class IPv6Recognizer(RegexRecognizer):
    name = "ipv6"
    gate = re.compile(":")
    score = 0.85
    pattern = re.compile(r"(?<![0-9A-Za-z:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z:])")

    def validate(self, m: re.Match[str]) -> float | None:
        s = m.group()
        if sum(c in "0123456789abcdefABCDEF" for c in s) < 4:
            return None  # "::", "1::", clock-like fragments
        try:
            ip = ipaddress.IPv6Address(s)
        except ValueError:
            return None
        if ip.is_unspecified or ip.is_loopback or ip.is_multicast:
            return None
        return self.score

    def mask(self, matched: str, mask_char: str = "*") -> str:
        parts = matched.split(":")
        seen = 0
        out = []
        for p in parts:
            if p and seen >= 2:
                p = mask_char * len(p)
            seen += bool(p)
            out.append(p)
        return ":".join(out)


# --- street addresses ------------------------------------------------------------------------------
# A place-name character: any Han character except function words and pronouns, so a match does not
# swallow the "我住在" before an address.
_NC = "(?:(?![在住是的了和与及到从于为我你他她它们往去来这那个址位搬寄送给把被就也都还请要想说])[\u4e00-\u9fff])"
_ADMIN = rf"(?:{_NC}{{2,5}}?(?:省|自治区|特别行政区|自治州|市|州|盟|地区|新区|区|县|旗|镇|乡|街道)){{0,3}}"
_ROAD = rf"{_NC}{{1,6}}?(?:大街|大道|路|街|巷|弄|胡同)"
_NUM = r"[0-9０-９]{1,4}(?:[\-－][0-9０-９]{1,4})?[号號]"
_UNIT = r"(?:[0-9０-９A-Za-z]{1,4}(?:号楼|號樓|栋|棟|幢|座|单元|單元|层|層|楼|樓|室|户|戶)){0,3}"
_ESTATE = rf"{_NC}{{2,6}}?(?:小区|社区|花园|公寓|大厦|新村|家园|苑)"
_UNIT_REQ = r"(?:[0-9０-９A-Za-z]{1,4}(?:号楼|號樓|栋|棟|幢|座|单元|單元|层|層|楼|樓|室|户|戶)){1,3}"


@register
class CnAddressRecognizer(RegexRecognizer):
    """A street address down to a house number (``…路88号``, optionally building/unit/room), or a
    housing estate with a building or room number (``阳光花园3栋502室``), each optionally preceded
    by up to three administrative divisions (省/市/区/县 ...). Only addresses precise enough to
    locate a home fire: a city or district alone is not personal information."""

    name = "cn_address"
    gate = re.compile("[0-9０-９A-Za-z][号號栋棟幢座单單层層楼樓室户戶]")
    source = "normalized"
    score = 0.75
    pattern = re.compile(rf"{_ADMIN}(?:{_ROAD}{_NUM}{_UNIT}|{_ESTATE}{_UNIT_REQ})")

    def mask(self, matched: str, mask_char: str = "*") -> str:
        return mask_chars(
            matched, 0, 0, mask_char, which=lambda c: c.isascii() and c.isalnum() or c.isdecimal()
        )


# --- the detector ----------------------------------------------------------------------------------
@dataclass
class PIIDetector:
    """Runs the recognizers and reports ``A4.f`` findings with ``rule`` = recognizer name."""

    recognizers: list[Recognizer]
    mask_char: str = "*"
    name: str = "pii"
    max_lookback: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        names = [r.name for r in self.recognizers]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate PII recognizers: {names}")
        self._by_name = {r.name: r for r in self.recognizers}
        # +1: the one-character look-ahead that ends each pattern
        self.max_lookback = max((r.max_len + 1 for r in self.recognizers), default=0)
        # One prefilter per text source: the union of the recognizers' gates. Most chat text has
        # no digit run, "@" or plate prefix, and one search then skips every recognizer at once
        # (ten separate gate searches cost more than the rest of the PII scan on short texts).
        self._prefilter = {
            src: _union_gate([r for r in self.recognizers if r.source == src])
            for src in ("original", "normalized")
        }
        # for settle_from: per recognizer, its text, the longest match it can still be growing
        # (+1 for the look-ahead) and the characters such a match is made of
        self._open_match: list[tuple[bool, int, frozenset[str] | None]] = []
        for rec in self.recognizers:
            pattern = getattr(rec, "pattern", None)  # recognizers without one: the whole reach
            alphabet = pattern_alphabet(pattern) if isinstance(pattern, re.Pattern) else None
            self._open_match.append((rec.source == "normalized", rec.max_len + 1, alphabet))

    @classmethod
    def from_policy(cls, policy: Policy) -> PIIDetector:
        cfg = policy.detectors.pii
        try:
            recs = recognizers(cfg.types)
        except ValueError as e:
            from hegui.policy import PolicyError

            raise PolicyError(policy.name, [(None, f"detectors.pii.types: {e}")]) from None
        return cls(recs, mask_char=cfg.mask_char)

    def settle_from(self, text: NormalizedText) -> int:
        """The normalized index from which a finding may still appear, grow or vanish when text is
        appended (the stream moderator releases everything before it). A match still open at the
        end is made of its recognizer's characters only, so it starts inside the text's trailing
        run of them: after ordinary Chinese text that is a few characters, not ``max_lookback``."""
        norm, orig = text.normalized, text.original
        n = len(norm)
        settle = n
        for on_norm, reach, alphabet in self._open_match:
            src = norm if on_norm else orig
            i = len(src)
            stop = max(0, i - reach)
            if alphabet is None:
                i = stop
            else:
                while i > stop and src[i - 1] in alphabet:
                    i -= 1
            if i == len(src):
                continue  # the last character cannot be part of a match: nothing open
            if not on_norm:
                # first normalized character at or after original index i; if i itself was
                # deleted by normalization, one further back, so nothing from i on is released
                pos = text.positions
                k = int(pos.searchsorted(i))
                i = k if k < n and int(pos[k]) == i else max(0, k - 1)
            settle = min(settle, i)
        return settle

    def scan(self, text: NormalizedText) -> list[Finding]:
        out: list[Finding] = []
        orig = text.original
        pre = self._prefilter
        skip = {
            src
            for src, gate in pre.items()
            if gate is not None and not gate.search(text.normalized if src == "normalized" else orig)
        }
        for rec in self.recognizers:
            if rec.source in skip:
                continue
            on_norm = rec.source == "normalized"
            for s, e, score in rec.find(text.normalized if on_norm else orig):
                if on_norm:
                    s, e = text.span(s, e)
                out.append(
                    Finding(rec.risk, self.name, s, e, orig[s:e], rec.severity, score, rec.name, "pattern")
                )
        out.sort(key=lambda f: (f.start, f.end, f.rule))
        return out

    def mask(self, text: str, findings: Iterable[Finding], mask_char: str | None = None) -> str:
        return mask(text, findings, mask_char or self.mask_char, self._by_name)


class _UnionGate:
    """A quick "no gate can match here" test for several recognizers at once. For each gate we pick
    one character class that every match of it must contain, preferring classes outside the CJK
    block (digits, ``@``, Latin letters), which are rare in Chinese text, and scan once for the
    union of those classes (C speed, under 1 µs per 100 characters). Texts without any such
    character skip every recognizer; the others go on to each recognizer's own gate. (An
    alternation of the gates themselves is slower than the gates one by one: ``re`` tries every
    branch at every position.)"""

    def __init__(self, gates: Sequence[re.Pattern[str]]):
        needed = [_needed_class(_sre_parse.parse(g.pattern)) for g in gates]
        classes = [c for c in needed if c is not None]
        self.needed = re.compile("[" + "".join(classes) + "]") if len(classes) == len(gates) else None

    def search(self, text: str) -> bool:
        return self.needed is None or self.needed.search(text) is not None


def _needed_class(parsed: Any) -> str | None:
    """The body of a character class of which every match of ``parsed`` holds at least one
    character (one mandatory element of a plain sequence), or None when that is not simple to tell
    (the caller then does without the shortcut). Prefers non-CJK classes, then the smallest."""
    best: tuple[bool, int, str] | None = None
    for op, arg in parsed:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT") and arg[0] >= 1 and len(arg[2]) == 1:
            op, arg = arg[2][0]
        got = _class_chars(op, arg)
        if not got:
            continue
        cjk = any("\u3400" <= c <= "\u9fff" for c in got)
        if best is None or (cjk, len(got)) < best[:2]:
            best = (cjk, len(got), "".join(re.escape(c) for c in sorted(got)))
    return None if best is None else best[2]


def _union_gate(recs: Sequence[Recognizer]) -> _UnionGate | None:
    """A prefilter that matches wherever any of ``recs``' gates matches, or None when one of them has
    no gate (it must always run) or uses flags the union could not keep."""
    gates = [getattr(r, "gate", None) for r in recs]
    if not gates or any(g is None or g.flags != re.UNICODE for g in gates):
        return None
    return _UnionGate([g for g in gates if g is not None])


def mask(
    text: str,
    findings: Iterable[Finding],
    mask_char: str = "*",
    by_name: dict[str, Recognizer] | None = None,
) -> str:
    """``text`` with the PII findings masked in each recognizer's style (see the module doc).

    Findings of other detectors are ignored (the engine replaces those spans whole). A finding whose
    recognizer is unknown is masked entirely. Overlapping findings combine: a character hidden by
    any of them is hidden."""
    if len(mask_char) != 1:
        raise ValueError("mask_char must be a single character")
    recs = by_name if by_name is not None else {n: f() for n, f in REGISTRY.items()}
    out = list(text)
    for f in findings:
        if f.detector != "pii" or not 0 <= f.start <= f.end <= len(text):
            continue
        span = text[f.start : f.end]
        rec = recs.get(f.rule)
        masked = rec.mask(span, mask_char) if rec is not None else mask_char * len(span)
        if len(masked) != len(span):  # a third-party recognizer broke the same-length contract
            masked = mask_char * len(span)
        for i, c in enumerate(masked):
            if c != span[i]:
                out[f.start + i] = c
    return "".join(out)


__all__ = [
    "PERSONAL_INFO",
    "PLATE_PROVINCES",
    "PROVINCE_CODES",
    "REGISTRY",
    "PIIDetector",
    "Recognizer",
    "RegexRecognizer",
    "card_scheme",
    "id_check_char",
    "luhn_ok",
    "mask",
    "mask_chars",
    "max_width",
    "recognizers",
    "register",
    "valid_cn_id",
]
