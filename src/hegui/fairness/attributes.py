"""The protected attributes of GB/T 45654-2025 A.2 and their values, read from YAML.

An attribute (``gender``) has groups (``sex``, ``gender_name``); a group has a reference value and
the values compared with it. A value renders as a persona line (``性别：女``) for decision prompts
and as a group noun (``女性``) for open-ended prompts. Name-typed values carry a list of names and
pick one by unit index, so both sides of a pair use names from the same row (same surname).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

ATTRIBUTE_NAMES = (
    "ethnicity",
    "belief",
    "nationality",
    "region",
    "gender",
    "age",
    "occupation",
    "health",
    "other",
)


class AttributeFileError(ValueError):
    """An attribute file is invalid (the message names the file and the problem)."""


@dataclass(frozen=True, slots=True)
class AttrValue:
    attribute: str
    group: str
    key: str
    zh: str
    phrase_tpl: str
    noun_tpl: str
    names: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.attribute}.{self.group}.{self.key}"

    def name(self, unit: int) -> str:
        return self.names[unit % len(self.names)] if self.names else ""

    def phrase(self, unit: int = 0) -> str:
        return self.phrase_tpl.format(zh=self.zh, name=self.name(unit))

    def noun(self, unit: int = 0) -> str:
        return self.noun_tpl.format(zh=self.zh, name=self.name(unit))


@dataclass(frozen=True, slots=True)
class AttrGroup:
    attribute: str
    id: str
    reference: AttrValue
    values: tuple[AttrValue, ...]  # every value, the reference included

    @property
    def others(self) -> tuple[AttrValue, ...]:
        return tuple(v for v in self.values if v.key != self.reference.key)


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    risk: str
    name_zh: str
    groups: tuple[AttrGroup, ...]

    def values(self) -> list[AttrValue]:
        return [v for g in self.groups for v in g.values]


@dataclass(slots=True)
class AttributeSet:
    attributes: dict[str, Attribute] = field(default_factory=dict)
    source: str = ""

    def __getitem__(self, name: str) -> Attribute:
        try:
            return self.attributes[name]
        except KeyError:
            raise KeyError(f"unknown attribute {name!r}; known: {', '.join(self.attributes)}") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.attributes.values())

    def names(self) -> list[str]:
        return list(self.attributes)


def _default_path() -> Path:
    return Path(str(resources.files("hegui.fairness") / "data" / "attributes.yaml"))


def _req(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d or d[key] in (None, ""):
        raise AttributeFileError(f"{where}: missing {key!r}")
    return d[key]


def load_attributes(path: str | Path | None = None) -> AttributeSet:
    """Read an attribute file (default: the shipped one) and check it."""
    p = Path(path) if path else _default_path()
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AttributeFileError(f"{p}: cannot read: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("attributes"), dict):
        raise AttributeFileError(f"{p}: expected a mapping with an 'attributes' mapping")
    out = AttributeSet(source=str(p))
    for aname, a in raw["attributes"].items():
        where = f"{p}: attribute {aname}"
        if not isinstance(a, dict):
            raise AttributeFileError(f"{where}: expected a mapping")
        groups = []
        for gi, g in enumerate(_req(a, "groups", where)):
            gwhere = f"{where} group {g.get('id', gi)}"
            gid = str(_req(g, "id", gwhere))
            phrase = str(_req(g, "phrase", gwhere))
            noun = str(g.get("noun") or "{zh}")
            vals: list[AttrValue] = []
            seen: set[str] = set()
            for v in _req(g, "values", gwhere):
                key = str(_req(v, "key", gwhere))
                if key in seen:
                    raise AttributeFileError(f"{gwhere}: duplicate value key {key!r}")
                seen.add(key)
                names = tuple(str(n) for n in v.get("names") or ())
                tpl_p = str(v.get("phrase") or phrase)
                tpl_n = str(v.get("noun") or noun)
                if ("{name}" in tpl_p or "{name}" in tpl_n) and not names:
                    raise AttributeFileError(f"{gwhere}: value {key!r} uses {{name}} but has no names")
                vals.append(AttrValue(aname, gid, key, str(_req(v, "zh", gwhere)), tpl_p, tpl_n, names))
            if len(vals) < 2:
                raise AttributeFileError(f"{gwhere}: needs at least two values to compare")
            ref_key = str(g.get("reference") or vals[0].key)
            ref = next((v for v in vals if v.key == ref_key), None)
            if ref is None:
                raise AttributeFileError(f"{gwhere}: reference {ref_key!r} is not one of its values")
            named = [v for v in vals if v.names]
            if named and len({len(v.names) for v in named}) != 1:
                raise AttributeFileError(f"{gwhere}: name lists must have the same length (rows are paired)")
            groups.append(AttrGroup(aname, gid, ref, tuple(vals)))
        out.attributes[aname] = Attribute(
            aname, str(_req(a, "risk", where)), str(a.get("name_zh", aname)), tuple(groups)
        )
    return out
