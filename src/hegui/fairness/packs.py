"""Scenario packs: prompt templates with a persona (``{person}``) or group (``{group}``) slot,
expanded into counterfactual cases.

A *unit* is one filling of a template's other slots (role, income, symptom ...). Within a unit,
every value of an attribute group is asked once; the group's reference value is asked once too,
and each non-reference value forms a pair with it. The two prompts of a pair are identical except
for the persona line (or group noun) of that one attribute: ``pair_diff`` checks exactly that, and
the tests run it over every pair of every shipped pack.
"""

from __future__ import annotations

import itertools
import random
import string
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hegui.fairness.attributes import ATTRIBUTE_NAMES, AttributeSet, AttrValue, load_attributes

TASKS = ("score", "yesno", "choice", "open")
METRICS = ("tone", "stereotype")


class PackError(ValueError):
    """A pack file is invalid or cannot be found (the message names the file and the problem)."""


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    task: str
    prompt: str
    system: str = ""
    slots: dict[str, tuple[str, ...]] = field(default_factory=dict)
    scale: tuple[float, float] = (1.0, 10.0)
    favourable: str = "high"  # score/choice: "high" or "low"; yesno: "yes" or "no"
    options: dict[str, str] = field(default_factory=dict)  # choice: letter -> text
    ordinal: dict[str, float] = field(default_factory=dict)  # choice: letter -> number
    metric: str = "stereotype"  # open: tone | stereotype
    max_tokens: int = 64

    @property
    def mode(self) -> str:
        """``person`` (persona line) or ``group`` (group noun)."""
        return (
            "group"
            if "{group}" in self.prompt or any("{group}" in v for vals in self.slots.values() for v in vals)
            else "person"
        )


@dataclass(frozen=True, slots=True)
class Pack:
    id: str
    name_zh: str
    name_en: str
    description: str
    templates: tuple[Template, ...]
    attributes: tuple[str, ...]
    units: int
    source: str = ""

    def template(self, tid: str) -> Template:
        for t in self.templates:
            if t.id == tid:
                return t
        raise KeyError(tid)


@dataclass(frozen=True, slots=True)
class Case:
    """One prompt of the audit. ``value == reference`` marks the reference prompt of its block."""

    id: str
    pack: str
    template: str
    task: str
    unit: int
    attribute: str
    group: str
    value: str
    reference: str
    risk: str
    prompt: str
    system: str
    max_tokens: int

    @property
    def is_reference(self) -> bool:
        return self.value == self.reference

    @property
    def block(self) -> str:
        """Cases of one block share template, unit and attribute group (they differ in the value only)."""
        return f"{self.template}/u{self.unit:03d}/{self.attribute}.{self.group}"

    def chat_messages(self) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        msgs.append({"role": "user", "content": self.prompt})
        return msgs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Case:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


# ---------------------------------------------------------------- loading


def packs_dir() -> Path:
    return Path(str(resources.files("hegui.fairness") / "data" / "packs"))


def list_packs() -> list[str]:
    return sorted(p.stem for p in packs_dir().glob("*.yaml"))


def _fields(tpl: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(tpl) if f}


def _template(d: dict[str, Any], where: str) -> Template:
    if not isinstance(d, dict):
        raise PackError(f"{where}: expected a mapping")
    tid = d.get("id")
    if not tid:
        raise PackError(f"{where}: template without 'id'")
    where = f"{where} template {tid}"
    task = d.get("task")
    if task not in TASKS:
        raise PackError(f"{where}: task must be one of {', '.join(TASKS)} (got {task!r})")
    prompt = d.get("prompt")
    if not prompt or not isinstance(prompt, str):
        raise PackError(f"{where}: missing 'prompt'")
    raw_slots = d.get("slots") or {}
    if not isinstance(raw_slots, dict):
        raise PackError(f"{where}: 'slots' must map a slot name to a list of fillers")
    slots: dict[str, tuple[str, ...]] = {}
    for k, vals in raw_slots.items():
        if not isinstance(vals, list) or not vals:
            raise PackError(f"{where}: slot {k!r} needs a non-empty list")
        slots[str(k)] = tuple(str(v) for v in vals)
    try:
        used = _fields(prompt) | {f for vs in slots.values() for v in vs for f in _fields(v)}
    except ValueError as exc:
        raise PackError(f"{where}: bad braces in the prompt: {exc}") from exc
    subject = used & {"person", "group"}
    if len(subject) != 1:
        raise PackError(f"{where}: the prompt must contain exactly one of {{person}} or {{group}}")
    missing = used - set(slots) - {"person", "group"}
    if missing:
        raise PackError(f"{where}: no slot list for {', '.join(sorted(missing))}")
    fav_raw = d.get("favourable", "yes" if task == "yesno" else "high")
    # YAML 1.1 reads a bare yes/no as a boolean
    fav = {True: "yes", False: "no"}.get(fav_raw, str(fav_raw)) if isinstance(fav_raw, bool) else str(fav_raw)
    if task == "yesno" and fav not in ("yes", "no"):
        raise PackError(f"{where}: favourable must be 'yes' or 'no' for a yes/no task")
    if task in ("score", "choice") and fav not in ("high", "low"):
        raise PackError(f"{where}: favourable must be 'high' or 'low'")
    scale = tuple(float(x) for x in d.get("scale", (1, 10)))
    if len(scale) != 2 or scale[0] >= scale[1]:
        raise PackError(f"{where}: scale must be [low, high]")
    options = {str(k).upper(): str(v) for k, v in (d.get("options") or {}).items()}
    ordinal = {str(k).upper(): float(v) for k, v in (d.get("ordinal") or {}).items()}
    if task == "choice":
        if len(options) < 2:
            raise PackError(f"{where}: a choice task needs at least two options")
        if set(ordinal) != set(options):
            raise PackError(f"{where}: 'ordinal' must give a number for every option")
    metric = str(d.get("metric", "stereotype"))
    if task == "open" and metric not in METRICS:
        raise PackError(f"{where}: metric must be one of {', '.join(METRICS)}")
    return Template(
        id=str(tid),
        task=task,
        prompt=prompt.strip(),
        system=str(d.get("system") or ""),
        slots=slots,
        scale=(scale[0], scale[1]),
        favourable=fav,
        options=options,
        ordinal=ordinal,
        metric=metric,
        max_tokens=int(d.get("max_tokens", 64)),
    )


def load_pack(name_or_path: str | Path) -> Pack:
    """A shipped pack by name (``hiring``) or a pack file by path."""
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        p = packs_dir() / f"{name_or_path}.yaml"
        if not p.exists():
            raise PackError(f"no pack named {name_or_path!r}; shipped packs: {', '.join(list_packs())}")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PackError(f"{p}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise PackError(f"{p}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PackError(f"{p}: expected a mapping at the top")
    where = str(p)
    tpls = raw.get("templates")
    if not isinstance(tpls, list) or not tpls:
        raise PackError(f"{where}: needs a non-empty 'templates' list")
    templates = tuple(_template(t, where) for t in tpls)
    ids = [t.id for t in templates]
    if len(set(ids)) != len(ids):
        raise PackError(f"{where}: duplicate template ids")
    attrs = raw.get("attributes", "all")
    if attrs == "all":
        attrs = list(ATTRIBUTE_NAMES)
    if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
        raise PackError(f"{where}: 'attributes' must be 'all' or a list of attribute names")
    return Pack(
        id=str(raw.get("id") or p.stem),
        name_zh=str(raw.get("name_zh") or raw.get("id") or p.stem),
        name_en=str(raw.get("name_en") or raw.get("id") or p.stem),
        description=str(raw.get("description") or "").strip(),
        templates=templates,
        attributes=tuple(attrs),
        units=int(raw.get("units", 20)),
        source=str(p),
    )


# ---------------------------------------------------------------- expansion


def template_units(t: Template, seed: int) -> list[dict[str, str]]:
    """Every filling of the template's slots, in a seeded order (the first n are the units used)."""
    names = sorted(t.slots)
    combos = [dict(zip(names, vals, strict=True)) for vals in itertools.product(*(t.slots[n] for n in names))]
    random.Random(f"{seed}:{t.id}").shuffle(combos)
    return combos


def render(t: Template, fill: dict[str, str], value: AttrValue, unit: int) -> str:
    subject = {"person": value.phrase(unit), "group": value.noun(unit)}
    # slot fillers may themselves hold {group}/{person} (e.g. the question wording of the describe pack)
    filled = {k: v.format(**subject) if ("{" in v) else v for k, v in fill.items()}
    return t.prompt.format(**filled, **subject)


def expand_pack(
    pack: Pack,
    attrs: AttributeSet | None = None,
    *,
    units: int | None = None,
    attributes: list[str] | None = None,
    templates: list[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[Case]:
    """All cases of the pack. ``limit`` caps the number of prompts: whole units are kept first, and a
    cut inside a unit never leaves a value without its reference (the reference comes first)."""
    attrs = attrs or load_attributes()
    names = list(attributes) if attributes else list(pack.attributes)
    for name in names:
        attrs[name]  # noqa: B018 - raises a KeyError naming the known attributes
    chosen = [t for t in pack.templates if not templates or t.id in templates]
    if templates:
        unknown = set(templates) - {t.id for t in pack.templates}
        if unknown:
            raise PackError(f"pack {pack.id} has no template {', '.join(sorted(unknown))}")
    n_units = units if units is not None else pack.units
    if n_units < 1:
        raise PackError("units must be at least 1")
    fills = {t.id: template_units(t, seed) for t in chosen}
    cases: list[Case] = []
    for u in range(n_units):
        for t in chosen:
            if u >= len(fills[t.id]):
                continue  # this template has fewer distinct fillings than units asked
            fill = fills[t.id][u]
            for aname in names:
                a = attrs[aname]
                for g in a.groups:
                    for v in (g.reference, *g.others):
                        cases.append(
                            Case(
                                id=f"{pack.id}/{t.id}/u{u:03d}/{aname}.{g.id}/{v.key}",
                                pack=pack.id,
                                template=t.id,
                                task=t.task,
                                unit=u,
                                attribute=aname,
                                group=g.id,
                                value=v.key,
                                reference=g.reference.key,
                                risk=a.risk,
                                prompt=render(t, fill, v, u),
                                system=t.system,
                                max_tokens=t.max_tokens,
                            )
                        )
    if limit is not None and len(cases) > limit:
        cases = cases[:limit]
    return cases


def pairs(cases: list[Case]) -> list[tuple[Case, Case]]:
    """(reference, variant) pairs: same block, the variant a non-reference value."""
    refs = {c.block: c for c in cases if c.is_reference}
    return [(refs[c.block], c) for c in cases if not c.is_reference and c.block in refs]


def pair_diff(a: str, b: str) -> tuple[str, str]:
    """The differing middle of two prompts (common prefix and suffix removed)."""
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    j = 0
    while j < min(len(a), len(b)) - i and a[-1 - j] == b[-1 - j]:
        j += 1
    return a[i : len(a) - j], b[i : len(b) - j]
