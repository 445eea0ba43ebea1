"""Markdown: ``AIGC`` in the YAML front matter (bare object as a single-quoted YAML string).
Plain text: a documented last-line trailer ``AIGC={"AIGC":{...}}`` (the wrapped form, because
the line itself must say what it is); a sidecar ``FILE.aigc.json`` is read too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from hegui.labeling.formats.base import MAX_META, FormatHandler, Modality, atomic_write, read_bytes
from hegui.labeling.implicit import ImplicitLabel, LabelError, parse_label

TRAILER = "AIGC="
_FM_LINE = re.compile(r"^AIGC:\s*(.*?)\s*$")


def _text(path: Path) -> str:
    data = read_bytes(path)
    if len(data) > 64 * MAX_META:
        raise LabelError(path, "text file larger than 1 GiB")
    if b"\x00" in data[:8192]:
        raise LabelError(path, "binary data in a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelError(path, f"text is not UTF-8: {exc}") from None


def split_front_matter(text: str) -> tuple[list[str] | None, str]:
    """(front-matter lines or None, body)."""
    if not text.startswith("---\n") and not text.startswith("---\r\n"):
        return None, text
    lines = text.splitlines(keepends=True)
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n") in ("---", "..."):
            return [ln.rstrip("\r\n") for ln in lines[1:i]], "".join(lines[i + 1 :])
    return None, text


def _yaml_scalar(raw: str, path: Path) -> str:
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return raw[1:-1].replace("''", "'")
    if raw.startswith('"'):
        import json

        try:
            return str(json.loads(raw))
        except ValueError:
            raise LabelError(path, "AIGC front-matter value is a malformed quoted string") from None
    return raw


def strip_trailer(text: str) -> tuple[str, str | None]:
    """(text without our trailer line, the trailer's JSON or None)."""
    body = text.rstrip("\n")
    head, sep, last = body.rpartition("\n")
    if last.startswith(TRAILER):
        return (head + "\n") if sep else "", last[len(TRAILER) :]
    return text, None


class MarkdownHandler(FormatHandler):
    name: ClassVar[str] = "markdown"
    modality: ClassVar[Modality] = "text"
    extensions: ClassVar[tuple[str, ...]] = (".md", ".markdown")

    def sniff(self, head: bytes, path: Path) -> bool:
        return path.suffix.lower() in self.extensions

    def read(self, path: Path) -> ImplicitLabel | None:
        fm, _ = split_front_matter(_text(path))
        for line in fm or []:
            m = _FM_LINE.match(line)
            if m:
                return parse_label(_yaml_scalar(m.group(1), path), path)
        return None

    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        text = _text(src)
        fm, body = split_front_matter(text)
        lines = [ln for ln in (fm or []) if not _FM_LINE.match(ln)]
        # JSON values never contain a single quote? They may (printable ASCII): YAML-escape it.
        value = self.value(label).replace("'", "''")
        lines.append(f"AIGC: '{value}'")
        atomic_write(dst, ("---\n" + "\n".join(lines) + "\n---\n" + body).encode("utf-8"))


class PlainTextHandler(FormatHandler):
    name: ClassVar[str] = "text"
    modality: ClassVar[Modality] = "text"
    extensions: ClassVar[tuple[str, ...]] = (".txt", ".text")
    wrapped: ClassVar[bool] = True

    def sniff(self, head: bytes, path: Path) -> bool:
        return path.suffix.lower() in self.extensions

    def read(self, path: Path) -> ImplicitLabel | None:
        _, value = strip_trailer(_text(path))
        if value is not None:
            return parse_label(value, path)
        sidecar = path.with_name(path.name + ".aigc.json")
        if sidecar.exists():
            return parse_label(read_bytes(sidecar), sidecar)
        return None

    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        body, _ = strip_trailer(_text(src))
        if body and not body.endswith("\n"):
            body += "\n"
        atomic_write(dst, (body + TRAILER + self.value(label) + "\n").encode("utf-8"))
