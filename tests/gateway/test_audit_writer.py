"""The audit writer gathers records into batches, and never makes a flush wait for its linger."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from hegui.gateway.audit import AuditWriter


class FakeAudit:
    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.written = threading.Event()

    def add_many(self, batch: list[Any]) -> None:
        self.batches.append(list(batch))
        self.written.set()


def _writer(linger_s: float, batch: int = 500) -> tuple[AuditWriter, FakeAudit]:
    audit = FakeAudit()
    store: Any = SimpleNamespace(audit=audit)
    return AuditWriter(store, batch=batch, linger_s=linger_s), audit


def test_records_within_the_linger_share_one_commit() -> None:
    w, audit = _writer(linger_s=1.0)
    for i in range(5):
        w.submit(i)  # type: ignore[arg-type]
    assert w.flush(5)
    assert audit.batches == [[0, 1, 2, 3, 4]]
    w.close()


def test_flush_does_not_wait_out_the_linger() -> None:
    w, audit = _writer(linger_s=60.0)
    w.submit("a")  # type: ignore[arg-type]
    time.sleep(0.05)  # the writer is now lingering
    assert w.flush(5)  # False if it had to wait the 60 s
    w.submit("b")  # type: ignore[arg-type]
    assert w.flush(5)
    assert audit.batches == [["a"], ["b"]]
    assert w.close(5)


def test_a_full_batch_is_written_without_waiting() -> None:
    w, audit = _writer(linger_s=60.0, batch=3)
    for i in range(3):
        w.submit(i)  # type: ignore[arg-type]
    assert audit.written.wait(5)  # no flush: the third record woke the writer
    assert audit.batches == [[0, 1, 2]]
    w.close()
