from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import HERE, TOY, make_jsonl
from hegui.corpus.readers import ReadOptions
from hegui.corpus.scan import ScanConfig, comparable, scan


@pytest.mark.ray
@pytest.mark.slow
def test_ray_engine_gives_the_local_results(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    src = tmp_path / "corpus"
    src.mkdir()
    make_jsonl(src / "a.jsonl", 1500, seed=5)
    make_jsonl(src / "b.jsonl", 500, seed=6)
    (src / "bad.jsonl").write_text('{"text": "好"}\n{broken\n', encoding="utf-8")
    cfg = ScanConfig(detectors=TOY, read=ReadOptions(shard_bytes=16 * 1024), checkpoint_every=200)
    local = scan([str(src)], tmp_path / "local", cfg, engine="local", workers=2)
    # Ray workers do not inherit the test's sys.path: give them the toy detectors' folder
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    try:
        on_ray = scan([str(src)], tmp_path / "ray", cfg, engine="ray", workers=2)
    finally:
        ray.shutdown()
    assert comparable(on_ray) == comparable(local)
    s = on_ray["sources"]["corpus"]
    assert s["records"] == 2001 and s["bad"] == 1 and s["harmful"] > 0
