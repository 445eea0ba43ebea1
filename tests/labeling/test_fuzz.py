"""Truncated and corrupted files: every parser fails with a LabelError naming the file, or
reads what survived; never another exception, never a hang."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hegui.labeling.formats import handler_for
from hegui.labeling.implicit import ImplicitLabel, LabelError

from .formats_cases import CASES
from .media import PRODUCER

_LABELED: dict[str, bytes] = {}
_DIR = Path(tempfile.mkdtemp(prefix="hegui-fuzz-"))


def labeled(case: str) -> tuple[str, bytes]:
    name = CASES[case][0]
    if case not in _LABELED:
        p = CASES[case][1](_DIR / name)
        handler_for(p).write(p, p, ImplicitLabel.for_producer(PRODUCER, "fuzz"))
        _LABELED[case] = p.read_bytes()
    return name, _LABELED[case]


def _check(case: str, data: bytes, tmp: Path, write: bool) -> None:
    name, _ = labeled(case)
    p = tmp / name
    p.write_bytes(data)
    try:
        h = handler_for(p)
    except LabelError as exc:
        assert exc.path == str(p)
        return
    try:
        got = h.read(p)
        assert got is None or isinstance(got, ImplicitLabel)
        if write:
            h.write(p, tmp / ("w" + name), ImplicitLabel.for_producer(PRODUCER, "again"))
    except LabelError as exc:
        assert exc.path is not None and exc.problem


# the video containers go through FFmpeg probing: fewer examples keep the suite quick
BYTE_LEVEL = ["png", "jpeg", "webp-lossy", "wav", "mp3", "flac", "ogg", "docx", "pdf", "markdown", "text"]
SLOW = ["mp4", "mkv"]
_settings = settings(
    max_examples=40, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("case", BYTE_LEVEL + SLOW)
@_settings
@given(cut=st.floats(0, 1, exclude_max=True))
def test_truncated(case: str, cut: float, tmp_path: Path) -> None:
    _, data = labeled(case)
    _check(case, data[: int(len(data) * cut)], tmp_path, write=case not in SLOW)


@pytest.mark.parametrize("case", BYTE_LEVEL + SLOW)
@_settings
@given(data=st.data())
def test_corrupted(case: str, data: st.DataObject, tmp_path: Path) -> None:
    _, raw = labeled(case)
    buf = bytearray(raw)
    n = data.draw(st.integers(1, 16))
    for _ in range(n):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    _check(case, bytes(buf), tmp_path, write=case not in SLOW)


@pytest.mark.parametrize("case", ["png", "jpeg", "wav", "webp-lossy"])
def test_huge_length_fields_do_not_allocate(case: str, tmp_path: Path) -> None:
    name, raw = labeled(case)
    buf = bytearray(raw)
    if case == "png":
        buf[33:37] = b"\x7f\xff\xff\xff"  # first chunk after IHDR claims 2 GiB
    elif case == "jpeg":
        buf[4:6] = b"\xff\xff"
    else:
        buf[16:20] = b"\xff\xff\xff\x7f"
    p = tmp_path / name
    p.write_bytes(bytes(buf))
    with pytest.raises(LabelError):
        handler_for(p).read(p)


def teardown_module() -> None:
    shutil.rmtree(_DIR, ignore_errors=True)
