"""Discrimination testing: counterfactual audits over the A.2 protected attributes, and
CBBQ-style multiple-choice bias benchmarks. See docs/fairness.md.

Public API::

    from hegui.fairness import load_pack, expand_pack, run_audit, make_report
    results = run_audit("runs/hiring", "hiring", Endpoint(url, model), units=40)
    make_report("runs/hiring")        # report.html, results.json, fairness_summary.json
"""

from hegui.fairness.attributes import ATTRIBUTE_NAMES, AttributeFileError, AttributeSet, load_attributes
from hegui.fairness.audit import AuditError, analyse, decide, execute, prepare, read_results, run_audit
from hegui.fairness.extract import Decision, extract_choice, extract_score, extract_yesno
from hegui.fairness.packs import Case, Pack, PackError, Template, expand_pack, list_packs, load_pack, pairs


def make_report(*args, **kwargs):  # type: ignore[no-untyped-def]
    """See ``hegui.fairness.report.make_report`` (imported lazily: matplotlib is heavy)."""
    from hegui.fairness.report import make_report as _make

    return _make(*args, **kwargs)


__all__ = [
    "ATTRIBUTE_NAMES",
    "AttributeFileError",
    "AttributeSet",
    "AuditError",
    "Case",
    "Decision",
    "Pack",
    "PackError",
    "Template",
    "analyse",
    "decide",
    "execute",
    "expand_pack",
    "extract_choice",
    "extract_score",
    "extract_yesno",
    "list_packs",
    "load_attributes",
    "load_pack",
    "make_report",
    "pairs",
    "prepare",
    "read_results",
    "run_audit",
]
