"""Training-data audit at corpus scale (Interim Measures Art. 7, 8, 19; GB/T 45654 training data).

Public API::

    load_ledger(path) -> LedgerReport                  source ledger, completeness per kind
    scan(sources, run_dir, ScanConfig(...), engine="local"|"ray") -> stats dict
    source_verdicts(stats) -> [SourceVerdict]          5 % rule with interval, technical sample
    draw_sample(run_dir, 4000, seed) / export_sample / import_review
    clean(sources, out_dir, ScanConfig(...)) -> CleanResult
    audit_rules / check_assignment / verify_batches    annotation QA
    write_report(run_dir) -> (index.html, corpus_summary.json)

Heavy modules (pyarrow, datasketch, ray, matplotlib) load only when these functions run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hegui.corpus.annotation import audit_rules, check_assignment, verification_sample, verify_batches
    from hegui.corpus.clean import CleanResult, clean
    from hegui.corpus.ledger import LedgerReport, load_ledger
    from hegui.corpus.readers import ReadOptions, iter_records
    from hegui.corpus.report import build_summary, write_report
    from hegui.corpus.scan import ScanConfig, ScanError, finalize, scan
    from hegui.corpus.verdicts import draw_sample, export_sample, import_review, source_verdicts

_WHERE = {
    "audit_rules": "annotation",
    "check_assignment": "annotation",
    "verification_sample": "annotation",
    "verify_batches": "annotation",
    "CleanResult": "clean",
    "clean": "clean",
    "LedgerReport": "ledger",
    "load_ledger": "ledger",
    "ReadOptions": "readers",
    "iter_records": "readers",
    "build_summary": "report",
    "write_report": "report",
    "ScanConfig": "scan",
    "ScanError": "scan",
    "finalize": "scan",
    "scan": "scan",
    "draw_sample": "verdicts",
    "export_sample": "verdicts",
    "import_review": "verdicts",
    "source_verdicts": "verdicts",
}
__all__ = [
    "CleanResult",
    "LedgerReport",
    "ReadOptions",
    "ScanConfig",
    "ScanError",
    "audit_rules",
    "build_summary",
    "check_assignment",
    "clean",
    "draw_sample",
    "export_sample",
    "finalize",
    "import_review",
    "iter_records",
    "load_ledger",
    "scan",
    "source_verdicts",
    "verification_sample",
    "verify_batches",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"hegui.corpus.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'hegui.corpus' has no attribute {name!r}")
