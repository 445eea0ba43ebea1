"""Annotation QA (Interim Measures Art. 8; GB/T 45654 annotation requirements).

- Rules audit: the annotation rules file has separate functional and safety sections, and the
  safety section defines every one of the 31 Appendix A risks with guidance.
- Assignment check: nobody reviews their own labels; every safety label has a reviewer;
  annotators and reviewers on the roster have passed security training and the exam.
- Sampled verification: a seeded sample of every batch is re-labelled by a checker; the batch's
  accuracy (with a Wilson interval) decides the batch verdict.
"""

from __future__ import annotations

import csv
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from hegui.taxonomy import load_taxonomy

SAFE_LABELS = ("safe", "none", "无风险", "0")
DEFAULT_MIN_ACCURACY = 0.95
DEFAULT_SAMPLE_FRACTION = 0.1
DEFAULT_SAMPLE_MIN = 50


class AnnotationError(ValueError):
    """A file that cannot be read at all (exit code 2)."""


class Problem(BaseModel):
    where: str
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


def builtin_rules_path() -> Path:
    return Path(str(resources.files("hegui.corpus").joinpath("annotation_rules.yaml")))


def _load_table(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            with open(path, encoding="utf-8-sig") as f:
                return [json.loads(line) for line in f if line.strip()]
        if suffix == ".csv":
            with open(path, encoding="utf-8-sig", newline="") as f:
                return [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(f)]
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
            if isinstance(data, dict) and len(data) == 1:
                data = next(iter(data.values()))
            if not isinstance(data, list):
                raise AnnotationError(f"{path}: expected a list of rows")
            return data
    except (ValueError, yaml.YAMLError) as exc:
        raise AnnotationError(f"{path}: cannot parse: {exc}") from None
    raise AnnotationError(f"{path}: must be .csv, .jsonl or .yaml")


# --------------------------------------------------------------------------------------------
# rules


class RulesAudit(BaseModel):
    path: str
    covered: list[str]
    missing: list[str]
    functional_rules: int
    problems: list[Problem] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.level == "error" for p in self.problems)


def audit_rules(path: str | Path | None = None) -> RulesAudit:
    path = Path(path) if path else builtin_rules_path()
    if not path.is_file():
        raise AnnotationError(f"{path}: no such file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        raise AnnotationError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected a mapping with 'functional' and 'safety' sections")
    problems: list[Problem] = []
    tax = load_taxonomy()
    functional = data.get("functional") or []
    safety = data.get("safety") or {}
    if not isinstance(functional, list) or not functional:
        problems.append(
            Problem(
                where="functional",
                message="no functional annotation rules: functional and "
                "safety rules must be kept as separate sections",
            )
        )
        functional = []
    for i, rule in enumerate(functional, 1):
        if not isinstance(rule, dict) or not str(rule.get("rule") or "").strip():
            problems.append(Problem(where=f"functional[{i}]", message="needs a non-empty 'rule'"))
    if not isinstance(safety, dict):
        raise AnnotationError(f"{path}: 'safety' must map risk codes (A1.a ...) to their rules")
    covered: list[str] = []
    for code, rule in safety.items():
        if code not in tax:
            problems.append(
                Problem(where=f"safety.{code}", message="not a risk code of GB/T 45654 Appendix A")
            )
            continue
        if not isinstance(rule, dict):
            problems.append(Problem(where=f"safety.{code}", message="must be a mapping"))
            continue
        ok = True
        for field in ("definition", "guidance"):
            if not str(rule.get(field) or "").strip():
                problems.append(
                    Problem(
                        where=f"safety.{code}.{field}",
                        message="empty: the rule must be clear, specific and operable (Art. 8)",
                    )
                )
                ok = False
        if not rule.get("examples"):
            problems.append(
                Problem(
                    where=f"safety.{code}.examples",
                    level="warning",
                    message="no worked examples (annotators learn boundaries from them)",
                )
            )
        if ok:
            covered.append(code)
    missing = [c for c in tax.codes if c not in covered]
    for code in missing:
        if code not in safety:
            problems.append(
                Problem(
                    where=f"safety.{code}",
                    message=f"risk {code} ({tax.get(code).name_zh}) has no safety annotation rule",
                )
            )
    return RulesAudit(
        path=str(path), covered=covered, missing=missing, functional_rules=len(functional), problems=problems
    )


# --------------------------------------------------------------------------------------------
# assignment


class Label(BaseModel):
    item_id: str
    batch: str
    kind: Literal["safety", "functional"] = "safety"
    label: str
    annotator: str
    reviewer: str | None = None


class AssignmentReport(BaseModel):
    labels: int
    batches: int
    problems: list[Problem] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.level == "error" for p in self.problems)


def load_labels(path: str | Path) -> list[Label]:
    rows = _load_table(path)
    out: list[Label] = []
    errors: list[str] = []
    for i, r in enumerate(rows, 2 if str(path).endswith(".csv") else 1):
        try:
            out.append(
                Label.model_validate(
                    {k: (str(v) if v is not None and k != "kind" else v) for k, v in r.items() if k}
                )
            )
        except ValueError as exc:
            errors.append(
                f"row {i}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
                if hasattr(exc, "errors")
                else f"row {i}: {exc}"
            )
    if errors:
        raise AnnotationError(f"{path}: " + "; ".join(errors[:10]))
    return out


def check_assignment(labels: list[Label], roster: list[dict[str, Any]] | None = None) -> AssignmentReport:
    tax = load_taxonomy()
    problems: list[Problem] = []
    people: dict[str, dict[str, Any]] = {}
    if roster is not None:
        for r in roster:
            people[str(r.get("person") or r.get("name"))] = r

    def qualified(person: str, role: str, where: str) -> None:
        if roster is None:
            return
        r = people.get(person)
        if r is None:
            problems.append(Problem(where=where, message=f"{role} {person!r} is not on the roster"))
            return
        for field, what in (("trained", "security training"), ("exam_passed", "the exam")):
            if str(r.get(field)).strip().lower() not in ("true", "1", "yes", "是"):
                problems.append(Problem(where=where, message=f"{role} {person!r} has not passed {what}"))

    checked: set[tuple[str, str]] = set()
    roles: dict[str, set[str]] = {}
    for lab in labels:
        where = f"item {lab.item_id} (batch {lab.batch})"
        if lab.kind == "safety" and lab.label not in SAFE_LABELS:
            for code in lab.label.replace(";", ",").split(","):
                if code.strip() and code.strip() not in tax:
                    problems.append(
                        Problem(where=where, message=f"label {code.strip()!r} is not a risk code")
                    )
        if lab.reviewer and lab.reviewer == lab.annotator:
            problems.append(Problem(where=where, message=f"{lab.annotator!r} reviewed their own label"))
        if lab.kind == "safety" and not lab.reviewer:
            problems.append(
                Problem(
                    where=where,
                    message="safety label has no reviewer (every safety label "
                    "is reviewed by at least one reviewer)",
                )
            )
        roles.setdefault(lab.annotator, set()).add("annotator")
        if lab.reviewer:
            roles.setdefault(lab.reviewer, set()).add("reviewer")
        for person, role in ((lab.annotator, "annotator"), (lab.reviewer, "reviewer")):
            if person and (person, role) not in checked:
                checked.add((person, role))
                qualified(person, role, where)
    for person, rs in sorted(roles.items()):
        if len(rs) > 1:
            problems.append(
                Problem(
                    where=person,
                    level="warning",
                    message="acts as both annotator and reviewer (allowed, but never on their own labels)",
                )
            )
    return AssignmentReport(labels=len(labels), batches=len({lab.batch for lab in labels}), problems=problems)


# --------------------------------------------------------------------------------------------
# sampled verification


def verification_sample(
    labels: list[Label],
    fraction: float = DEFAULT_SAMPLE_FRACTION,
    minimum: int = DEFAULT_SAMPLE_MIN,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Item ids to re-check per batch: ``max(minimum, fraction * size)`` (all of a small batch)."""
    by_batch: dict[str, list[str]] = {}
    for lab in labels:
        by_batch.setdefault(lab.batch, []).append(lab.item_id)

    def key(item: str) -> bytes:
        return hashlib.blake2b(item.encode(), digest_size=8, key=f"verify:{seed}".encode()).digest()

    out = {}
    for batch, items in sorted(by_batch.items()):
        n = min(len(items), max(minimum, round(fraction * len(items))))
        out[batch] = sorted(items, key=key)[:n]
    return out


class BatchVerdict(BaseModel):
    batch: str
    size: int
    required: int
    checked: int
    correct: int
    accuracy: float
    low: float
    high: float
    verdict: Literal["pass", "fail", "unverified"]
    reason: str = ""


def verify_batches(
    labels: list[Label],
    verified: list[dict[str, Any]],
    min_accuracy: float = DEFAULT_MIN_ACCURACY,
    fraction: float = DEFAULT_SAMPLE_FRACTION,
    minimum: int = DEFAULT_SAMPLE_MIN,
) -> list[BatchVerdict]:
    """``verified`` rows: ``item_id`` and ``verified_label`` (the checker's label)."""
    from hegui.corpus.verdicts import wilson

    by_id = {lab.item_id: lab for lab in labels}
    sizes: dict[str, int] = {}
    for lab in labels:
        sizes[lab.batch] = sizes.get(lab.batch, 0) + 1
    tally: dict[str, list[int]] = {b: [0, 0] for b in sizes}
    for i, r in enumerate(verified, 1):
        item = str(r.get("item_id"))
        if item not in by_id:
            raise AnnotationError(f"verification row {i}: item {item!r} is not in the labels file")
        if r.get("verified_label") in (None, ""):
            raise AnnotationError(f"verification row {i}: item {item!r} has no verified_label")
        lab = by_id[item]
        tally[lab.batch][1] += 1
        tally[lab.batch][0] += _same(lab.label, str(r["verified_label"]))
    out = []
    for batch, (correct, checked) in sorted(tally.items()):
        size = sizes[batch]
        required = min(size, max(minimum, round(fraction * size)))
        lo, hi = wilson(correct, checked)
        acc = correct / checked if checked else 0.0
        if checked < required:
            verdict: Literal["pass", "fail", "unverified"] = "unverified"
            reason = f"{checked} items checked < {required} required"
        elif acc >= min_accuracy:
            verdict, reason = "pass", ""
        else:
            verdict, reason = "fail", f"accuracy {acc:.1%} < {min_accuracy:.0%}: relabel the batch"
        out.append(
            BatchVerdict(
                batch=batch,
                size=size,
                required=required,
                checked=checked,
                correct=correct,
                accuracy=acc,
                low=lo,
                high=hi,
                verdict=verdict,
                reason=reason,
            )
        )
    return out


def _same(a: str, b: str) -> bool:
    def norm(x: str) -> frozenset[str]:
        x = x.strip()
        if x in SAFE_LABELS:
            return frozenset()
        return frozenset(p.strip() for p in x.replace(";", ",").split(",") if p.strip())

    return norm(a) == norm(b)


def load_table(path: str | Path) -> list[dict[str, Any]]:
    return _load_table(path)
