"""The audit log writer: records are queued by requests and written in batches by one thread.

Batching keeps the per-request cost to an append. Nothing is dropped: if the database fails, the
batch goes back to the front of the queue, the writer marks itself unhealthy, and the gateway
answers new requests with 503 (fail closed) until a write succeeds again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime

from hegui.gateway.context import RequestContext
from hegui.policy import Policy
from hegui.store import AuditRecord, Store

log = logging.getLogger("hegui.gateway.audit")


def content_digest(text: str, key: str | None) -> str:
    data = text.encode("utf-8")
    if key:
        # a keyed hash: short prompts cannot be recovered by hashing guesses without the key
        return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def build_record(ctx: RequestContext, policy: Policy, hmac_key: str | None, route: str) -> AuditRecord:
    mode = policy.audit.content
    input_text = "\n".join(ctx.input_texts)
    output_text = ctx.output_scanned_text
    scanned_input = bool(ctx.input_texts) and ctx.input_action is not None
    return AuditRecord(
        request_id=ctx.request_id,
        created_at=datetime.now(UTC),
        user_id=ctx.user_id,
        api_key_id=ctx.key_id,
        source_ip=ctx.client_ip,
        source_port=ctx.client_port,
        route=route,
        model=ctx.model,
        upstream_model=ctx.upstream_model,
        stream=ctx.stream,
        status_code=ctx.status_code,
        outcome=ctx.outcome,
        error_code=ctx.error_code,
        prompt_tokens=ctx.prompt_tokens,
        completion_tokens=ctx.completion_tokens,
        input_action=str(ctx.input_action) if ctx.input_action is not None else None,
        output_action=str(ctx.output_action) if ctx.output_action is not None else None,
        risks=ctx.risks(),
        latency_ms=round(ctx.elapsed_ms(), 3),
        upstream_latency_ms=round(ctx.upstream_latency_ms, 3)
        if ctx.upstream_latency_ms is not None
        else None,
        stream_mode=ctx.stream_mode,
        input_chars_scanned=len(input_text) if scanned_input else 0,
        output_chars_received=sum(len(t) for t in ctx.output_received),
        output_chars_scanned=ctx.output_scanned_chars,
        output_chars_sent=ctx.output_sent_chars,
        output_chars_sent_unscanned=ctx.output_sent_unscanned,
        content_policy=mode,
        # the digest/kept text is of exactly what the moderator scanned, nothing more
        input_sha256=content_digest(input_text, hmac_key) if scanned_input and mode != "drop" else None,
        output_sha256=content_digest(output_text, hmac_key) if output_text and mode != "drop" else None,
        input_text=input_text if scanned_input and mode == "keep" else None,
        output_text=output_text if output_text and mode == "keep" else None,
        label_applied=ctx.label_applied,
        incident_id=ctx.incident_ids[0] if ctx.incident_ids else None,
    )


class AuditWriter:
    def __init__(
        self,
        store: Store,
        queue_max: int = 10_000,
        batch: int = 500,
        retry_s: float = 0.5,
        linger_s: float = 0.05,
    ):
        self.store = store
        self.linger_s = linger_s
        self.queue_max = queue_max
        self.batch = batch
        self.retry_s = retry_s
        self._q: deque[AuditRecord] = deque()
        self._cv = threading.Condition()
        self._inflight = 0
        self._flushing = 0  # callers waiting in flush(): the writer does not linger for them
        self._stop = False
        self.healthy = True
        self.last_error: str | None = None
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="hegui-audit", daemon=True)
        self._thread.start()

    @property
    def ok(self) -> bool:
        return self.healthy and len(self._q) < self.queue_max

    def __len__(self) -> int:
        return len(self._q) + self._inflight

    def submit(self, record: AuditRecord) -> None:
        with self._cv:
            self._q.append(record)
            # wake an idle writer, or a lingering one once a whole batch is waiting; otherwise
            # the lingering writer picks the rest up
            if len(self._q) == 1 or len(self._q) == self.batch:
                self._cv.notify_all()  # all: a flush() may be waiting on the same condition

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._q and not self._stop:
                    self._cv.wait()
                if not self._q and self._stop:
                    return
                if len(self._q) < self.batch and not self._stop and not self._flushing and self.linger_s:
                    # under load, wait a moment for more records: one commit for many requests
                    # instead of one each keeps the writer off the event loop's GIL
                    self._cv.wait(self.linger_s)
                n = min(self.batch, len(self._q))
                batch = [self._q.popleft() for _ in range(n)]
                self._inflight = n
            try:
                self.store.audit.add_many(batch)
            except Exception as exc:  # any failure: keep the records, report, retry
                log.error("audit write failed (%d records kept for retry): %s", len(batch), exc)
                with self._cv:
                    self._q.extendleft(reversed(batch))
                    self._inflight = 0
                    self.healthy = False
                    self.last_error = str(exc)
                    self._cv.notify_all()
                    if self._stop:
                        return
                time.sleep(self.retry_s)
                continue
            with self._cv:
                self._inflight = 0
                self.healthy = True
                self.last_error = None
                self.written += n
                self._cv.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued record is written (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            self._flushing += 1
            self._cv.notify_all()  # a lingering writer writes now
            try:
                while self._q or self._inflight:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cv.wait(min(left, 0.05))
            finally:
                self._flushing -= 1
        return True

    def close(self, timeout: float = 10.0) -> bool:
        done = self.flush(timeout)
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout=1.0)
        return done
