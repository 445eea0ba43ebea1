"""Security assessment harness (GB/T 45654-2025) and the filing pack.

Public API::

    from hegui.assessment import read_banks, audit_items, run_items, Judges, make_report

- banks: ``BankItem``, ``read_bank``/``read_banks``/``write_bank``, templates ``expand_template_file``
- coverage: ``audit_items`` -> ``AuditReport``
- calls: ``run_items(items, endpoint, model, out_dir, concurrency)`` (crash-safe cache, resumable)
- judging: ``RefusalDetector``, ``Judges``; runs: ``prepare_run``, ``execute_run``, ``judge_run``
- figures: ``wilson``, ``Rate``, ``cohen_kappa``; samples: ``draw_samples``
- outputs: ``make_report``, ``compare_runs``, ``export_review``/``import_review``
"""

from hegui.assessment.audit import AuditReport, AuditRow, audit_items
from hegui.assessment.bank import (
    KINDS,
    NON_REFUSE_TOPICS,
    BankError,
    BankItem,
    read_bank,
    read_banks,
    starter_bank_dir,
    write_bank,
)
from hegui.assessment.judges import Judgement, Judges, RefusalDetector, RefusalResult
from hegui.assessment.metrics import Rate, cohen_kappa, wilson
from hegui.assessment.pipeline import RunError, execute_run, judge_run, prepare_run
from hegui.assessment.runner import (
    Endpoint,
    Response,
    RunRequest,
    RunSummary,
    read_responses,
    run_items,
    run_items_async,
)
from hegui.assessment.sampling import SamplePlan, draw_samples
from hegui.assessment.templates import expand_template, expand_template_file


def make_report(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See ``hegui.assessment.report.make_report`` (imported lazily: matplotlib is heavy)."""
    from hegui.assessment.report import make_report as _make

    return _make(*args, **kwargs)


def compare_runs(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See ``hegui.assessment.report.compare_runs``."""
    from hegui.assessment.report import compare_runs as _cmp

    return _cmp(*args, **kwargs)


__all__ = [
    "KINDS",
    "NON_REFUSE_TOPICS",
    "AuditReport",
    "AuditRow",
    "BankError",
    "BankItem",
    "Endpoint",
    "Judgement",
    "Judges",
    "Rate",
    "RefusalDetector",
    "RefusalResult",
    "Response",
    "RunError",
    "RunRequest",
    "RunSummary",
    "SamplePlan",
    "audit_items",
    "cohen_kappa",
    "compare_runs",
    "draw_samples",
    "execute_run",
    "expand_template",
    "expand_template_file",
    "judge_run",
    "make_report",
    "prepare_run",
    "read_bank",
    "read_banks",
    "read_responses",
    "run_items",
    "run_items_async",
    "starter_bank_dir",
    "wilson",
    "write_bank",
]
