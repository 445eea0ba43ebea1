"""Moderation of a token stream: feed chunks, get back only text that has been scanned and settled.

How it stays exact and cheap:
- Pattern detectors declare ``max_lookback`` L (normalized characters). After a scan, everything
  before the last L normalized characters is *settled*: no future character can create or cancel
  (via an exception term) a match that starts there. Only settled text is released. A detector
  may say more precisely where its open matches can start (``settle_from(nt)``): PII does, so its
  103-character e-mail bound only holds text back after an ASCII run, not after Chinese prose.
- Scans are batched, and each rescans only the unreleased tail plus a little ``context``. A scan
  runs when ``batch`` characters are pending, or when a chunk arrives and the oldest pending one
  has waited ``max_wait`` seconds, or at ``flush``/``close``. So a fast stream (a local model, a
  replay) is scanned in large batches, at a bounded CPU cost per second of stream, and a slow one
  (a model emitting a token every 50 ms) is scanned at every token and waits for nothing but the
  lookback. What is held is at most ``lookback + batch`` characters, and batching adds at most
  ``max_wait`` of delay to a steady stream: ``batch`` only binds on streams faster than
  ``batch / max_wait`` characters per second (12,800 at the defaults). A chunk followed by a pause
  waits for the next chunk or ``flush``: callers that must bound that in time call ``flush``.
- Whole-text detectors (``max_lookback <= 0``: classifier, LLM judge) run once per completed
  sentence (Chinese and Western terminators), so with them on, text is held until its sentence ends.
- Findings are keyed by (risk, detector, rule, span) and reported exactly once.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from hegui.moderation.engine import action_for, clean_text, mask_spans
from hegui.moderation.types import Action, Finding
from hegui.text import normalize

if TYPE_CHECKING:
    from hegui.moderation.engine import Moderator

# Sentence/segment ends, Chinese punctuation included (some guardrail splitters only know ". ! ?").
SENTENCE_END = re.compile(r"[。！？；!?;…\n]+|\.(?=\s|$)")
_END_CHARS = frozenset("。！？；!?;….\n")
_monotonic = time.monotonic

_Key = tuple[str, str, str, int, int]


def _key(f: Finding) -> _Key:
    return (f.risk, f.detector, f.rule, f.start, f.end)


@dataclass(slots=True)
class StreamUpdate:
    release: str = ""  # text cleared to send to the client now
    findings: list[Finding] = field(default_factory=list)  # findings reported by this step
    action: Action = Action.ALLOW  # strongest action so far in the stream
    stopped: bool = False  # the policy cut the stream: send ``message`` and end it
    message: str | None = None


class StreamModerator:
    def __init__(
        self,
        moderator: Moderator,
        role: str = "output",
        batch: int = 256,
        context: int = 8,
        max_wait: float = 0.02,
    ):
        if batch < 1 or context < 0 or max_wait < 0:
            raise ValueError("batch must be >= 1, context >= 0 and max_wait >= 0")
        self.policy = moderator.policy
        dets = moderator.detectors_for(role)
        self._local = [d for d in dets if d.max_lookback > 0]
        self._whole = [d for d in dets if d.max_lookback <= 0]
        self._by_sentence = bool(self._whole)
        self._settlers = [(getattr(d, "settle_from", None), d.max_lookback) for d in self._local]
        self.lookback = max((d.max_lookback for d in self._local), default=0)
        self.batch = batch
        self.context = context
        self.max_wait = max_wait
        self._deadline = 0.0  # time.monotonic() by which the oldest pending chunk must be scanned
        self._buf = ""  # text from absolute offset ``_base`` on
        self._base = 0
        self._released = 0  # absolute offset: text before it has been released
        self._seg_start = 0  # absolute start of the sentence whole-text detectors have not seen
        self._pending = 0
        self._parts: list[str] = []  # chunks fed since the last scan
        self._open = True  # neither stopped nor closed: feed() takes its fast path
        self._idle = StreamUpdate(action=Action.ALLOW)  # what an idle feed() returns (read-only)
        self._reported: set[_Key] = set()
        self._whole_found: list[Finding] = []
        self.findings: list[Finding] = []  # everything reported so far
        self.action = Action.ALLOW
        self.stopped = False
        self.closed = False

    # --- public -----------------------------------------------------------------------------
    @property
    def released(self) -> int:
        """Characters released so far; every one of them was scanned."""
        return self._released

    @property
    def received(self) -> int:
        return self._base + len(self._buf) + sum(map(len, self._parts))

    def feed(self, chunk: str) -> StreamUpdate:
        # Hot path, called once per token: append and count only. Cleaning, type errors and
        # scanning happen once per batch in _scan; an idle step returns one shared, empty update.
        if chunk and self._open:
            parts = self._parts
            now = _monotonic()
            if not parts:
                self._deadline = now + self.max_wait
            parts.append(chunk)
            self._pending += len(chunk)
            if (
                self._pending >= self.batch
                or now >= self._deadline
                or (self._by_sentence and not _END_CHARS.isdisjoint(chunk))
            ):
                return self._scan(final=False)
            return self._idle
        if self.closed:
            raise RuntimeError("feed() after close()")
        return StreamUpdate(action=self.action, stopped=self.stopped)

    def flush(self) -> StreamUpdate:
        """Scan what is pending now (for callers whose stream paused): releases all but the lookback."""
        if self._open and self._parts:
            return self._scan(final=False)
        return StreamUpdate(action=self.action, stopped=self.stopped)

    def close(self) -> StreamUpdate:
        """End of stream: scan and release the rest."""
        if self.closed:
            return StreamUpdate(action=self.action, stopped=self.stopped)
        upd = self._scan(final=True) if not self.stopped else StreamUpdate(action=self.action, stopped=True)
        self.closed = True
        self._open = False
        return upd

    # --- internals ------------------------------------------------------------------------------
    def _scan(self, final: bool) -> StreamUpdate:
        if self._parts:
            parts, self._parts = self._parts, []
            try:
                joined = "".join(parts)
            except TypeError:
                bad = next(p for p in parts if not isinstance(p, str))
                raise TypeError(f"chunks must be str, not {type(bad).__name__}") from None
            # clean_text keeps lengths (one U+FFFD per lone surrogate), so offsets stay valid
            self._buf += clean_text(joined)
        self._pending = 0
        end = self._base + len(self._buf)
        win_start = max(self._base, self._released - self.context)
        window = self._buf[win_start - self._base :]
        nt = normalize(window)
        found: list[Finding] = []
        for det in self._local:
            for f in det.scan(nt):
                if f.start + win_start >= self._released:
                    found.append(_shift(f, win_start))
        settled = self._settled_boundary(nt, win_start, end, final)
        if not found and not self._whole:
            # the common case, kept short: nothing found, release what has settled
            release_to = max(settled, self._released)
            text = self._buf[self._released - self._base : release_to - self._base]
            self._released = release_to
            self._trim()
            return StreamUpdate(text, [], self.action)
        if self._whole:
            self._run_whole(final)
            found.extend(self._whole_found)
            settled = min(settled, self._seg_start) if not final else settled
        fresh = sorted(
            {_key(f): f for f in found if f.start < settled and _key(f) not in self._reported}.values(),
            key=lambda f: (f.start, f.end),
        )
        acts = [action_for(self.policy, f) for f in fresh]
        stop_at = min((f.start for f, a in zip(fresh, acts, strict=True) if a >= Action.REFUSE), default=None)
        if stop_at is not None:
            release_to = max(stop_at, self._released)
        else:
            release_to = settled
            for f, a in zip(fresh, acts, strict=True):
                if a == Action.MASK and f.end > settled:
                    release_to = min(release_to, f.start)  # never release half a masked span
        release_to = max(release_to, self._released)
        reported = [
            (f, a) for f, a in zip(fresh, acts, strict=True) if f.start < release_to or stop_at is not None
        ]
        masks = [f for f, a in reported if a == Action.MASK and f.end <= release_to]
        text = self._buf[self._released - self._base : release_to - self._base]
        if masks:
            local = [replace(f, start=f.start - self._released, end=f.end - self._released) for f in masks]
            text = mask_spans(text, local, self.policy)
        out = [f for f, a in reported if a > Action.ALLOW]
        for f, a in reported:
            self._reported.add(_key(f))
            self.action = max(self.action, a)
        self.findings.extend(out)
        self._released = release_to
        if self.action != self._idle.action:
            self._idle = StreamUpdate(action=self.action)
        if stop_at is not None:
            self.stopped = True
            self._open = False
            self._buf = ""
            self._base = end
            return StreamUpdate(text, out, self.action, True, self.policy.stream_cut_message)
        self._trim()
        return StreamUpdate(text, out, self.action, False, None)

    def _trim(self) -> None:
        """Drop buffered text no later scan will read (the next window starts ``context`` before the
        release point; whole-text detectors still need their unfinished sentence)."""
        keep_from = self._released - self.context
        if self._whole:
            keep_from = min(keep_from, self._seg_start)
        if keep_from > self._base:
            self._buf = self._buf[keep_from - self._base :]
            self._base = keep_from

    def _settled_boundary(self, nt, win_start: int, end: int, final: bool) -> int:  # type: ignore[no-untyped-def]
        if final:
            return end
        n = len(nt.normalized)
        # each detector says where its open matches may start (``settle_from``), or is assumed to
        # need its whole ``max_lookback``
        k = min(
            (settle(nt) if settle is not None else n - lookback for settle, lookback in self._settlers),
            default=n,
        )
        if k <= 0:
            return self._released
        if k >= n:
            return end
        return win_start + nt.span(k, k + 1)[0]

    def _run_whole(self, final: bool) -> None:
        """Run whole-text detectors on each sentence completed since the last call."""
        seg_text = self._buf[self._seg_start - self._base :]
        cut = 0
        for m in SENTENCE_END.finditer(seg_text):
            cut = m.end()
        if final:
            cut = len(seg_text)
        if cut == 0:
            return
        done = seg_text[:cut]
        if done.strip():
            nt = normalize(done)
            for det in self._whole:
                self._whole_found.extend(_shift(f, self._seg_start) for f in det.scan(nt))
        self._seg_start += cut
        self._whole_found = [f for f in self._whole_found if _key(f) not in self._reported]


def _shift(f: Finding, by: int) -> Finding:
    return replace(f, start=f.start + by, end=f.end + by) if by else f
