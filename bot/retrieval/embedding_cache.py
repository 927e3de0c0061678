"""Embeddings cached by (embedder id, chunk hash), so re-indexing embeds only what changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sqlite_utils


class EmbeddingCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite_utils.Database(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._table = self._db.table("embeddings")
        if not self._table.exists():
            self._table.create(
                {"embedder": str, "hash": str, "dim": int, "vector": bytes}, pk=("embedder", "hash")
            )

    def get_many(self, embedder: str, hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 500):
            batch = hashes[start:start + 500]
            marks = ",".join("?" for _ in batch)
            rows = self._db.execute(
                f"select hash, vector from embeddings where embedder = ? and hash in ({marks})",
                [embedder, *batch],
            ).fetchall()
            for digest, blob in rows:
                found[digest] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, embedder: str, items: dict[str, np.ndarray]) -> None:
        with self._db.conn:
            self._table.upsert_all(
                (
                    {"embedder": embedder, "hash": h, "dim": int(v.shape[0]),
                     "vector": np.asarray(v, dtype=np.float32).tobytes()}
                    for h, v in items.items()
                ),
                pk=("embedder", "hash"),
            )

    def close(self) -> None:
        self._db.close()
