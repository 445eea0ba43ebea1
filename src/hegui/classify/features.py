"""Character n-gram features, hashed into a fixed number of buckets.

Why our own featurizer instead of scikit-learn's vectorizers: inference must not import
scikit-learn (about 2 s of import time, and the model must load in < 1 s), and a hashed space
needs no vocabulary in the model file. Buckets come from CRC-32 (stable across processes and
platforms, unlike ``hash()``), features are sublinear TF x IDF, L2-normalized per text.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

_BOUNDARY = "\x02"  # marks text start/end so that n-grams at the edges differ from inner ones


@dataclass(slots=True)
class CharNgramHasher:
    n_min: int = 1
    n_max: int = 3
    n_buckets: int = 1 << 20
    # memo of n-gram -> bucket: Chinese text reuses a small set of n-grams, so this makes
    # featurizing several times faster than hashing every occurrence
    _memo: dict[str, int] = field(default_factory=dict, repr=False)
    _memo_max: int = 2_000_000

    def __post_init__(self) -> None:
        if not 1 <= self.n_min <= self.n_max:
            raise ValueError(f"need 1 <= n_min <= n_max, got {self.n_min}..{self.n_max}")
        if self.n_buckets < 2:
            raise ValueError("n_buckets must be >= 2")

    def bucket_counts(self, text: str) -> dict[int, int]:
        """Raw counts of hashed n-grams in ``text``."""
        s = _BOUNDARY + text + _BOUNDARY
        memo = self._memo
        nb = self.n_buckets
        counts: dict[int, int] = {}
        ln = len(s)
        for n in range(self.n_min, self.n_max + 1):
            for i in range(ln - n + 1):
                g = s[i : i + n]
                if n == 1 and g == _BOUNDARY:
                    continue
                b = memo.get(g)
                if b is None:
                    # prefix the order so that "ab" as a 2-gram and "ab" elsewhere never mix
                    b = zlib.crc32(f"{n}:{g}".encode()) % nb
                    if len(memo) < self._memo_max:
                        memo[g] = b
                counts[b] = counts.get(b, 0) + 1
        return counts

    def tf(self, text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Sublinear term frequencies (1 + log count), sorted by bucket."""
        counts = self.bucket_counts(text)
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        val = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float32, count=len(counts))
        return idx, val

    def transform(
        self, text: str, idf: npt.NDArray[np.float32] | None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """TF-IDF of one text, L2-normalized: (bucket indices, values)."""
        idx, val = self.tf(text)
        if idf is not None and len(idx):
            val = val * idf[idx]
        norm = float(np.sqrt(np.dot(val, val)))
        if norm > 0:
            val = val / norm
        return idx, val

    def csr(
        self, texts: Sequence[str], idf: npt.NDArray[np.float32] | None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(data, indices, indptr) of a CSR matrix, for training/batch scoring with scipy."""
        datas: list[npt.NDArray[np.float32]] = []
        idxs: list[npt.NDArray[np.int64]] = []
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        for row, t in enumerate(texts):
            i, v = self.transform(t, idf)
            idxs.append(i)
            datas.append(v)
            indptr[row + 1] = indptr[row] + len(i)
        data = np.concatenate(datas) if datas else np.zeros(0, np.float32)
        indices = np.concatenate(idxs) if idxs else np.zeros(0, np.int64)
        return data, indices, indptr

    def document_frequency(self, texts: Iterable[str]) -> tuple[npt.NDArray[np.float32], int]:
        df = np.zeros(self.n_buckets, dtype=np.float32)
        n = 0
        for t in texts:
            counts = self.bucket_counts(t)
            df[np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))] += 1
            n += 1
        return df, n


def smooth_idf(df: npt.NDArray[np.float32], n_docs: int) -> npt.NDArray[np.float32]:
    """The usual smoothed IDF: log((1 + n) / (1 + df)) + 1."""
    return (np.log((1.0 + n_docs) / (1.0 + df)) + 1.0).astype(np.float32)
