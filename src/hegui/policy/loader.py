"""Load and validate policy YAML, naming file, line and reason on every error."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hegui.policy.model import Policy


class PolicyError(ValueError):
    """A policy file that cannot be used. ``str()`` is ``file:line: reason`` lines."""

    def __init__(self, source: str, problems: list[tuple[int | None, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}:{line if line is not None else '?'}: {msg}" for line, msg in problems]
        super().__init__("invalid policy\n" + "\n".join(lines))


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Walk the composed YAML node tree along a pydantic error location to find its line."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == str(part):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    try:
        node = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(source, [(line, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(source, [(1, "a policy file must be a mapping of keys to values")])
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            where = ".".join(str(p) for p in loc) or "(top level)"
            problems.append((_line_of(node, loc), f"{where}: {err['msg']}"))
        raise PolicyError(source, problems) from None


def load_policy(path: str | Path) -> Policy:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PolicyError(str(p), [(None, f"cannot read file: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise PolicyError(str(p), [(None, "file is neither UTF-8 nor GB18030 text")]) from None
    return parse_policy(text, str(p))


@cache
def _shipped_default() -> Policy:
    ref = resources.files("hegui.data").joinpath("policies/default.yaml")
    return parse_policy(ref.read_text("utf-8"), "hegui/data/policies/default.yaml")


def default_policy() -> Policy:
    """The shipped default policy: a fresh copy each call, so a caller's edits never leak into
    every other user of the default (policies are mutable pydantic models)."""
    return _shipped_default().model_copy(deep=True)
