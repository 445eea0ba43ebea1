"""What every container module provides, and the registry that picks one for a file."""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Literal

from hegui.labeling.implicit import ImplicitLabel, LabelError

Modality = Literal["image", "audio", "video", "text", "document"]

# Metadata blocks larger than this are refused rather than read into memory: a corrupt length
# field must not make us allocate gigabytes.
MAX_META = 16 * 1024 * 1024


class FormatHandler(ABC):
    """One container. ``read`` returns the label or None; ``write`` replaces any label."""

    name: ClassVar[str]
    modality: ClassVar[Modality]
    extensions: ClassVar[tuple[str, ...]]
    # True when the container holds the wrapped {"AIGC":{...}} form, False for the bare object
    # under a key named AIGC.
    wrapped: ClassVar[bool] = False

    @abstractmethod
    def sniff(self, head: bytes, path: Path) -> bool:
        """True if the first bytes (and, for text, the extension) are this format."""

    @abstractmethod
    def read(self, path: Path) -> ImplicitLabel | None: ...

    @abstractmethod
    def write(self, src: Path, dst: Path, label: ImplicitLabel) -> None:
        """Write ``src`` with ``label`` to ``dst`` (which may equal ``src``)."""

    def value(self, label: ImplicitLabel) -> str:
        return label.to_json(wrapped=self.wrapped)


def atomic_write(dst: Path, data: bytes) -> None:
    """Write via a temp file in the same folder so a crash never leaves half a file."""
    dst = Path(dst)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def temp_sibling(dst: Path, suffix: str | None = None) -> Path:
    fd, tmp = tempfile.mkstemp(
        dir=Path(dst).parent, prefix=f".{Path(dst).name}.", suffix=suffix or Path(dst).suffix
    )
    os.close(fd)
    return Path(tmp)


def read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise LabelError(path, f"cannot read file: {exc.strerror or exc}") from None
