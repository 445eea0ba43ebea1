"""The disk cache of the normalization tables (``hegui.text._tables``): a loaded table equals a
built one, and a missing, corrupt or unwritable cache only costs a rebuild."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hegui.text import _tables

DIGEST = """
import hashlib
from hegui.text import _tables as t
h = hashlib.sha256(t.fold_table().tobytes())
p = t.phonetics()
h.update(p.phon.tobytes())
h.update(repr((p.syllables, sorted(p.syllable_id.items()), list(p.char_syllable.items()))).encode())
print(h.hexdigest())
"""


def _digest(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", DIGEST], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.mark.slow
def test_tables_from_the_cache_equal_the_built_ones(tmp_path: Path) -> None:
    built = _digest({"HEGUI_TABLE_CACHE": "0"})
    home = {"HEGUI_HOME": str(tmp_path)}
    first = _digest(home)  # builds and writes the cache
    assert len(list((tmp_path / "tables").glob("*.npz"))) == 2
    loaded = _digest(home)  # reads it
    assert built == first == loaded


def test_disk_cache_rebuilds_what_it_cannot_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEGUI_HOME", str(tmp_path))
    calls = []

    def build() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"a": np.arange(5, dtype=np.uint32), "s": np.array(["zha", "pian"])}

    first = _tables._disk_cached("t", build)
    again = _tables._disk_cached("t", build)
    assert len(calls) == 1 and first.keys() == again.keys()
    assert all(np.array_equal(first[k], again[k]) for k in first)

    (entry,) = (tmp_path / "tables").glob("t-*.npz")
    entry.write_bytes(b"not an npz")  # corrupt (a crash while another process wrote, a bad disk)
    assert np.array_equal(_tables._disk_cached("t", build)["a"], np.arange(5))
    assert (
        len(calls) == 2
        and hashlib.sha256(entry.read_bytes()).hexdigest() != hashlib.sha256(b"not an npz").hexdigest()
    )  # and rewritten

    monkeypatch.setenv("HEGUI_HOME", str(tmp_path / "file"))
    (tmp_path / "file").write_text("a file where the cache folder would be")
    assert np.array_equal(_tables._disk_cached("t", build)["a"], np.arange(5))  # no cache, no error
    assert len(calls) == 3


def test_the_cache_key_follows_this_module(monkeypatch: pytest.MonkeyPatch) -> None:
    key = _tables._cache_key()
    assert len(key) == 16
    _tables._cache_key.cache_clear()
    monkeypatch.setattr(_tables, "__file__", __file__)  # another source text
    try:
        assert _tables._cache_key() != key
    finally:
        _tables._cache_key.cache_clear()
