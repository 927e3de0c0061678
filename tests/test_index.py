"""Index lifecycle: versions, incremental re-index, atomic switch, the embedding cache."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from bot.retrieval.glossary import Glossary
from bot.retrieval.indexer import IndexBusy, build_index, index_lock
from bot.retrieval.search import Retriever
from bot.retrieval.store import current_version, load_snapshot
from tests.conftest import KNOWLEDGE

GLOSSARY = Glossary.load(KNOWLEDGE / "glossary.yaml")


def _law(title: str, articles: list[str]) -> str:
    body = "\n\n".join(f"第{n}条 {text}" for n, text in zip("一二三四五六七八九", articles, strict=False))
    return f"# {title}\n\n<!-- INFO END -->\n\n## 第一章 总则\n\n{body}\n"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "甲条例.md").write_text(_law("甲条例", [
        "施工单位应当对建筑材料进行检验，检验应当有书面记录。",
        "建设单位不得迫使承包方以低于成本的价格竞标。",
    ]), encoding="utf-8")
    (folder / "乙条例.md").write_text(_law("乙条例", [
        "塔式起重机等起重机械安装完毕后，应当在三十日内办理登记。",
        "监理单位应当按月报送监理报告。",
    ]), encoding="utf-8")
    return folder


class CountingEmbedder:
    """Wraps the real embedder and counts passages embedded."""

    def __init__(self, inner, fail_after: int | None = None) -> None:
        self.inner = inner
        self.id = inner.id
        self.dim = inner.dim
        self.passages = 0
        self.fail_after = fail_after

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts):
        if self.fail_after is not None and self.passages + len(texts) > self.fail_after:
            raise RuntimeError("killed mid-build")
        self.passages += len(texts)
        return self.inner.embed_passages(texts)


def test_build_then_search(tmp_path: Path, docs: Path, embedder) -> None:
    index = tmp_path / "index"
    report = build_index([docs], index, embedder, GLOSSARY)
    assert (report.documents, report.chunks, report.embedded) == (2, 4, 4)
    snapshot = load_snapshot(index)
    assert snapshot.manifest["embedder"] == {"id": embedder.id, "dim": 384}
    assert {d["title"] for d in snapshot.documents} == {"甲条例", "乙条例"}
    assert all(len(d["sha256"]) == 64 for d in snapshot.documents)
    hits = Retriever(snapshot, embedder, GLOSSARY).search("塔吊装完多久要登记？", k=3)
    assert (hits[0].doc, hits[0].label) == ("乙条例", "第一条")


def test_incremental_reindex_embeds_only_what_changed(tmp_path: Path, docs: Path, embedder) -> None:
    index = tmp_path / "index"
    build_index([docs], index, embedder, GLOSSARY)
    counting = CountingEmbedder(embedder)
    unchanged = build_index([docs], index, counting, GLOSSARY)
    assert counting.passages == 0 and unchanged.reused_documents == 2

    text = (docs / "乙条例.md").read_text(encoding="utf-8").replace("按月", "每周")
    (docs / "乙条例.md").write_text(text, encoding="utf-8")
    (docs / "丙条例.md").write_text(_law("丙条例", ["检测机构不得伪造检测报告。"]), encoding="utf-8")
    (docs / "甲条例.md").unlink()
    report = build_index([docs], index, counting, GLOSSARY)
    assert counting.passages == 2  # the changed article and the new one
    assert report.added == ["丙条例"] and report.changed == ["乙条例"] and report.removed == ["甲条例"]
    snapshot = load_snapshot(index)
    assert {d["title"] for d in snapshot.documents} == {"乙条例", "丙条例"}
    assert "每周报送" in snapshot.article_text("乙条例", "第二条")


def test_failed_build_leaves_previous_version_serving(tmp_path: Path, docs: Path, embedder) -> None:
    index = tmp_path / "index"
    first = build_index([docs], index, embedder, GLOSSARY)
    (docs / "丁条例.md").write_text(_law("丁条例", ["甲", "乙", "丙"]), encoding="utf-8")
    with pytest.raises(RuntimeError):
        build_index([docs], index, CountingEmbedder(embedder, fail_after=0), GLOSSARY)
    assert current_version(index) == first.version
    assert {d["title"] for d in load_snapshot(index).documents} == {"甲条例", "乙条例"}
    # The next build succeeds and cleans up; old versions beyond the last two are pruned.
    for _ in range(3):
        build_index([docs], index, embedder, GLOSSARY)
    versions = [p.name for p in (index / "versions").iterdir()]
    assert len(versions) == 2 and current_version(index) in versions


def test_second_build_is_refused_while_one_runs(tmp_path: Path, docs: Path, embedder) -> None:
    index = tmp_path / "index"
    with index_lock(index):
        with pytest.raises(IndexBusy):
            build_index([docs], index, embedder, GLOSSARY)


def test_bad_files_are_skipped_and_reported(tmp_path: Path, docs: Path, embedder) -> None:
    (docs / "坏.docx").write_bytes(b"not a zip")
    (docs / "空.md").write_text("", encoding="utf-8")
    report = build_index([docs], tmp_path / "index", embedder, GLOSSARY)
    reasons = {Path(p).name: r for p, r in report.errors}
    assert set(reasons) == {"坏.docx", "空.md"}
    assert report.documents == 2


def test_readers_keep_serving_during_a_rebuild(tmp_path: Path, docs: Path, embedder) -> None:
    index = tmp_path / "index"
    build_index([docs], index, embedder, GLOSSARY)
    retriever = Retriever(load_snapshot(index), embedder, GLOSSARY)
    errors: list[Exception] = []

    def ask() -> None:
        try:
            for _ in range(20):
                assert retriever.search("监理报告多久报一次", k=1)[0].doc == "乙条例"
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    build_index([docs], index, embedder, GLOSSARY)
    thread.join()
    assert not errors


def _phrasing_file(folder: Path, fingerprint: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "yi.yaml"
    path.write_text(
        "doc: 乙条例\narticles:\n  - label: 第一条\n"
        f"    fingerprint: {fingerprint}\n"
        "    phrasings:\n      - q: 塔吊装好了几天内要去办手续\n        voice: site\n"
        "        answer: 塔式起重机等起重机械安装完毕后，应当在三十日内办理登记。\n", encoding="utf-8")
    return path


def test_phrasings_are_indexed_and_a_changed_article_sets_them_aside(tmp_path: Path, docs: Path, embedder) -> None:
    from bot.retrieval.phrasings import article_fingerprint

    index, folder = tmp_path / "index", tmp_path / "phrasings"
    article = "第一条　塔式起重机等起重机械安装完毕后，应当在三十日内办理登记。"
    _phrasing_file(folder, article_fingerprint(article))
    report = build_index([docs], index, embedder, GLOSSARY, phrasings_dir=folder)
    assert report.phrasings == 1 and report.phrasing_problems == []
    snapshot = load_snapshot(index)
    assert snapshot.phrasings[0].label == "第一条" and snapshot.phrasing_vectors.ntotal == 1
    hit = Retriever(snapshot, embedder, GLOSSARY).search("塔吊装好了几天内要去办手续", k=1)[0]
    assert hit.matched_phrasing is not None and hit.matched_phrasing.answer in snapshot.article_text("乙条例", "第一条")

    # The article changes: its phrasing no longer applies, and the build says so.
    text = (docs / "乙条例.md").read_text(encoding="utf-8").replace("三十日", "十五日")
    (docs / "乙条例.md").write_text(text, encoding="utf-8")
    report = build_index([docs], index, embedder, GLOSSARY, phrasings_dir=folder)
    assert report.phrasings == 0
    assert any("第一条" in p and "指纹不符" in p for p in report.phrasing_problems)
    assert load_snapshot(index).manifest["phrasing_problems"] == report.phrasing_problems


class FakeWriter:
    """Writes phrasings like an LLM would: one valid, one whose answer is not in the article."""

    id = "llm:test"

    def __init__(self) -> None:
        self.calls = 0

    def write(self, doc: str, label: str, text: str) -> str:
        self.calls += 1
        sentence = text.split("　", 1)[-1]
        items = [{"q": "这条管什么", "voice": "site", "answer": sentence},
                 {"q": "编的", "voice": "exam", "answer": "条文里没有这句"}]
        return "好的：" + json.dumps(items, ensure_ascii=False)


def test_llm_writes_phrasings_for_documents_without_them_once(tmp_path: Path, docs: Path, embedder) -> None:
    index, writer = tmp_path / "index", FakeWriter()
    report = build_index([docs], index, embedder, GLOSSARY, writer=writer)
    assert writer.calls == 4 and report.phrasings == 4  # one valid phrasing per article; invented answers dropped
    assert all(p.answer in load_snapshot(index).article_text(p.doc, p.label) for p in load_snapshot(index).phrasings)
    build_index([docs], index, embedder, GLOSSARY, writer=writer)
    assert writer.calls == 4  # cached by article hash
