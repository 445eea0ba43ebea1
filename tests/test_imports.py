"""Every package imports on its own in a fresh interpreter (no import cycles hidden by the order in
which a test session happens to import things)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import hegui

PACKAGES = sorted(m.name for m in pkgutil.iter_modules(hegui.__path__, "hegui.") if m.ispkg)


def test_the_capability_packages_are_all_there() -> None:
    for name in ("taxonomy", "policy", "text", "store", "moderation", "gateway", "labeling"):
        assert f"hegui.{name}" in PACKAGES
    for name in ("assessment", "corpus", "console", "fairness", "classify"):
        assert f"hegui.{name}" in PACKAGES


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_alone(package: str) -> None:
    r = subprocess.run(
        [sys.executable, "-c", f"import {package}"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr[-2000:]
