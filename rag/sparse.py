"""BM25 over the stored chunks (bm25s, French + English stems), cached on disk by index version."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from .text import stems


class SparseIndex:
    """BM25 scores for chunk ids; built from the store's chunks, saved under data/bm25/<version>/."""

    def __init__(self, ids: list[str], retriever, df: dict[str, int]) -> None:
        self.ids = ids
        self._bm25 = retriever
        self._vocab = retriever.vocab_dict
        self.df = df

    def idf(self, stem: str) -> float:
        """BM25's idf; a stem the corpus never uses gets the highest weight."""
        n, df = len(self.ids), self.df.get(stem, 0)
        return math.log((n - df + 0.5) / (df + 0.5) + 1.0)

    @classmethod
    def build(cls, rows: list[tuple[str, str]]) -> SparseIndex:
        import bm25s

        retriever = bm25s.BM25()
        corpus = [stems(text) or [""] for _, text in rows]
        retriever.index(corpus, show_progress=False)
        return cls([id_ for id_, _ in rows], retriever, dict(Counter(t for doc in corpus for t in set(doc))))

    @classmethod
    def load_or_build(cls, cache: Path, version: str, fetch_rows) -> SparseIndex:
        """Reuse the saved index of this version, else build from `fetch_rows()` and save it (old versions go)."""
        import bm25s

        folder = cache / version
        if version and (folder / "ids.json").exists():
            try:
                retriever = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
                saved = json.loads((folder / "ids.json").read_text())
                return cls(saved["ids"], retriever, saved["df"])
            except (OSError, ValueError, KeyError):
                shutil.rmtree(folder, ignore_errors=True)
        index = cls.build(fetch_rows())
        if version:
            if cache.exists():
                for old in cache.iterdir():
                    shutil.rmtree(old, ignore_errors=True)
            tmp = cache / f".{version}.tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            index._bm25.save(str(tmp), show_progress=False)
            (tmp / "ids.json").write_text(json.dumps({"ids": index.ids, "df": index.df}))
            tmp.rename(folder)
        return index

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top-k (chunk id, BM25 score), best first; chunks sharing no stem with the query are left out."""
        terms = [t for t in stems(query) if t in self._vocab]
        if not terms or not self.ids:
            return []
        scores = self._bm25.get_scores(terms)
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]
