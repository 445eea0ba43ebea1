"""The scan's batched per-record work gives exactly what the record-at-a-time functions give.

The scan computes language, MinHash band keys and findings a batch of records at a time for
speed; these tests hold it to the plain per-record definitions (``language_of``, ``band_keys``,
``Moderator.check`` and ``Finding.to_dict``), on invented text with odd characters.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import TOY, make_jsonl, sentence
from hegui.corpus.readers import ReadOptions
from hegui.corpus.scan import (
    NearDup,
    ScanConfig,
    _mask_pii,
    language_of,
    languages_of,
    moderator_for,
    scan,
    text_hash,
)

_WS = re.compile(r"\s+")


def odd_texts(seed: int = 3, n: int = 400) -> list[str]:
    """Mixed scripts, astral characters, lone surrogates, every kind of whitespace, empty texts."""
    rng = random.Random(seed)
    spaces = [" ", "\t", "\n", "\u3000", "\x85", "\x1c", "\u2028", "\xa0"]
    out = ["", " ", "短", "ab", "a b", "\u3000\u3000", "½²_ab٣", "\ud83d\ude00x文字", "😀" * 5, "x" * 5000]
    out.append("文" * 4100)  # longer than the MinHash prefix and the language sample
    for _ in range(n):
        chars = []
        for _ in range(rng.randrange(0, 60)):
            kind = rng.randrange(6)
            if kind == 0:
                chars.append(chr(rng.randrange(0x20, 0x250)))
            elif kind == 1:
                chars.append(chr(rng.randrange(0x4E00, 0x9FFF)))
            elif kind == 2:
                chars.append(chr(rng.randrange(0x10000, 0x30000)))
            elif kind == 3:
                chars.append(rng.choice(spaces))
            elif kind == 4:
                chars.append(chr(rng.randrange(0x400, 0x4FF)))
            else:
                chars.append(chr(rng.randrange(0xD800, 0xE000)) if rng.random() < 0.1 else "的")
        out.append("".join(chars))
    return out


def test_str_split_whitespace_is_regex_whitespace() -> None:
    # text_hash and the MinHash use str.split() in place of the \s+ regex: same characters
    for cp in range(0x110000):
        ch = chr(cp)
        assert (_WS.fullmatch(ch) is not None) == ch.isspace(), hex(cp)


def test_text_hash_equals_the_regex_definition() -> None:
    for t in odd_texts():
        norm = _WS.sub(" ", t).strip().encode("utf-8", "surrogatepass")
        assert text_hash(t) == int.from_bytes(hashlib.blake2b(norm, digest_size=8).digest(), "little")


@pytest.mark.parametrize("sample", [2000, 10])
def test_languages_of_equals_language_of(sample: int) -> None:
    texts = odd_texts()
    assert languages_of(texts, sample) == [language_of(t, sample) for t in texts]
    assert languages_of([]) == []


@pytest.mark.parametrize(
    ("num_perm", "threshold", "shingle", "chars"), [(64, 0.8, 3, 4000), (32, 0.5, 1, 20), (128, 0.9, 5, 64)]
)
def test_band_keys_many_equals_band_keys(num_perm: int, threshold: float, shingle: int, chars: int) -> None:
    nd = NearDup(num_perm, threshold, shingle, chars)
    texts = odd_texts(seed=num_perm)
    many = nd.band_keys_many(texts)
    assert many.shape == (len(texts), nd.bands)
    assert many.tolist() == [nd.band_keys(t) for t in texts]
    # a small gram budget splits the batch into many groups: same keys
    assert (nd.signatures(texts, budget=50) == nd.signatures(texts)).all()
    assert nd.band_keys_many([]).shape == (0, nd.bands)


def _reference_rows(path: Path, cfg: ScanConfig) -> list[dict[str, object]]:
    """The per-record columns as the scan defined them before batching, one record at a time."""
    from hegui.moderation.engine import action_for
    from hegui.moderation.types import Action

    mod = moderator_for(cfg)
    harmful_at = Action.parse(cfg.harmful_action)
    nd = NearDup(cfg.num_perm, cfg.near_threshold, cfg.shingle, cfg.minhash_chars)
    rows = []
    for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
        text = json.loads(line)["text"]
        v = mod.check(text, role=cfg.role)
        risks, harmful_risks, pii, found = [], [], [], []
        for f in v.findings:
            if f.risk not in risks:
                risks.append(f.risk)
            if action_for(mod.policy, f) >= harmful_at and f.risk not in harmful_risks:
                harmful_risks.append(f.risk)
            d = f.to_dict()
            if f.detector == "pii":
                pii.append(f.rule or f.risk)
                d["matched"] = _mask_pii(f.matched)
            found.append(d)
        row: dict[str, object] = {
            "chars": len(text),
            "lang": language_of(text),
            "hash": text_hash(text),
            "action": str(v.action),
            "harmful": v.action >= harmful_at,
            "risks": risks,
            "harmful_risks": harmful_risks,
            "pii": pii,
            "findings": json.dumps(found, ensure_ascii=False) if found else None,
        }
        row.update({f"b{i}": k for i, k in enumerate(nd.band_keys(text))})
        rows.append(row)
    return rows


@pytest.mark.parametrize("detectors", [TOY, None])  # toy detectors, then the shipped policy's
def test_scan_rows_equal_record_at_a_time(tmp_path: Path, detectors: str | None) -> None:
    data = tmp_path / "data.jsonl"
    make_jsonl(data, 700, seed=5)
    rng = random.Random(1)
    with open(data, "a", encoding="utf-8") as f:  # PII the shipped detectors know, odd scripts
        for i, t in enumerate(odd_texts(n=60)):
            extra = f"，邮箱 user{i}@example.com，{sentence(rng, 4)}" if i % 3 == 0 else ""
            # escaped: lone surrogates and line separators survive as JSON escapes
            f.write(json.dumps({"text": t + extra or "空"}) + "\n")
    # 333 is not a multiple of the batch size: checkpoints cut batches short
    cfg = ScanConfig(detectors=detectors, read=ReadOptions(shard_bytes=1 << 20), checkpoint_every=333)
    stats = scan([f"d={data}"], tmp_path / "run", cfg, workers=1)
    parts = sorted((tmp_path / "run" / "parts").glob("*.parquet"))
    assert len(parts) == 3
    got = [r for p in parts for r in pq.read_table(p).to_pylist()]
    want = _reference_rows(data, cfg)
    assert len(got) == len(want) == stats["sources"]["d"]["records"]
    for g, w in zip(got, want, strict=True):
        assert {k: g[k] for k in w} == w
    s = stats["sources"]["d"]
    assert s["harmful"] == sum(bool(w["harmful"]) for w in want)
    assert s["pii_records"] == sum(bool(w["pii"]) for w in want)
    assert s["lang"] == dict(sorted(Counter(str(w["lang"]) for w in want).items()))
    assert s["pii_records"] > 0 and len(s["lang"]) >= 3  # the test has teeth
    assert s["harmful"] > 0 or detectors is None  # the invented harmful term is a toy one


@pytest.mark.parametrize("num_perm", [16, 64, 128, 512])
def test_permutations_and_premix_equal_datasketch(num_perm: int) -> None:
    # the workers compute datasketch's permutations and pre-mix without importing it
    import numpy as np
    from datasketch import MinHash
    from datasketch.lsh import _optimal_param
    from datasketch.minhash import _fmix

    from hegui.corpus.scan import affine32_permutations, fmix32, lsh_params

    a, b = affine32_permutations(num_perm, seed=1)
    da, db = MinHash(num_perm=num_perm, seed=1, scheme="affine32").permutations
    assert a.dtype == b.dtype == np.uint32
    assert a.tolist() == np.asarray(da).tolist() and b.tolist() == np.asarray(db).tolist()
    hv = np.random.default_rng(num_perm).integers(0, 1 << 32, 10_000, dtype=np.uint64).astype(np.uint32)
    assert fmix32(hv).tolist() == _fmix(hv, 32).tolist()
    assert lsh_params(0.8, num_perm) == _optimal_param(0.8, num_perm, 0.5, 0.5)
