"""Index integrity: every file checksummed, damaged versions set aside, the newest good one served, a rebuild
when none is left, and no harm from a build killed at any point of writing."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.knowledge import KnowledgeBase
from bot.retrieval.glossary import Glossary
from bot.retrieval.indexer import build_index
from bot.retrieval.integrity import file_digest
from bot.retrieval.store import IndexMissing, current_version, load_snapshot
from tests.conftest import KNOWLEDGE, ROOT, make_settings

GLOSSARY = Glossary.load(KNOWLEDGE / "glossary.yaml")
QUESTION = "塔吊装完多久要登记？"


def _law(title: str, articles: list[str]) -> str:
    body = "\n\n".join(f"第{n}条 {text}" for n, text in zip("一二三四五六七八九", articles, strict=False))
    return f"# {title}\n\n<!-- INFO END -->\n\n## 第一章 总则\n\n{body}\n"


@pytest.fixture
def built(tmp_path: Path, embedder) -> tuple[Path, Path, list[str]]:
    """A docs folder and an index with two versions (the second current)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    articles = ["塔式起重机等起重机械安装完毕后，应当在三十日内办理登记。", "监理单位应当按月报送监理报告。"]
    (docs / "乙条例.md").write_text(_law("乙条例", articles), encoding="utf-8")
    index = tmp_path / "index"
    first = build_index([docs], index, embedder, GLOSSARY).version
    (docs / "丙条例.md").write_text(_law("丙条例", ["检测机构不得伪造检测报告。", "检测报告应当签字。"]),
                                   encoding="utf-8")
    second = build_index([docs], index, embedder, GLOSSARY).version
    return docs, index, [first, second]


def test_every_file_of_a_version_is_checksummed(built) -> None:
    _, index, versions = built
    folder = index / "versions" / versions[-1]
    files = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"]
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(files) == on_disk and {"chunks.jsonl", "vectors.faiss", "links.json"} <= on_disk
    assert any(name.startswith("bm25/") for name in files)
    for name, entry in files.items():
        assert entry == {"sha256": file_digest(folder / name), "bytes": (folder / name).stat().st_size}


def _truncate_vectors(folder: Path) -> None:
    path = folder / "vectors.faiss"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _bad_manifest(folder: Path) -> None:
    (folder / "manifest.json").write_text('{"schema": 1, "files": ', encoding="utf-8")


def _flipped_byte(folder: Path) -> None:
    path = folder / "links.json"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))  # same size: only the checksum notices


def _missing_file(folder: Path) -> None:
    next(p for p in (folder / "bm25").iterdir() if p.is_file()).unlink()


DAMAGE = {"truncated vectors": _truncate_vectors, "bad manifest": _bad_manifest, "flipped byte": _flipped_byte,
          "missing file": _missing_file}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_current_version_falls_back_to_the_newest_good_one(built, damage: str, caplog) -> None:
    _, index, (first, second) = built
    DAMAGE[damage](index / "versions" / second)
    with caplog.at_level(logging.WARNING):
        snapshot = load_snapshot(index)
    assert snapshot.version == first and current_version(index) == first
    assert (index / "versions" / f".damaged-{second}").is_dir() and not (index / "versions" / second).exists()
    assert second in caplog.text and "damaged" in caplog.text


def test_a_running_knowledge_base_keeps_answering_when_a_new_version_is_damaged(built, embedder, tmp_path) -> None:
    docs, index, (first, second) = built
    settings = make_settings(tmp_path, BOT_INDEX_DIR=str(index), BOT_KNOWLEDGE_DIRS=str(docs))
    kb = KnowledgeBase(settings, embedder)
    assert kb.answer(QUESTION).citations[0]["doc"] == "乙条例"
    (docs / "丁条例.md").write_text(_law("丁条例", ["施工单位应当编制专项方案。", "方案应当论证。"]), encoding="utf-8")
    third = build_index([docs], index, embedder, GLOSSARY).version
    _truncate_vectors(index / "versions" / third)
    for _ in range(3):  # every question is answered, from the newest good version
        answer = kb.answer(QUESTION)
        assert answer.answered and answer.citations[0]["doc"] == "乙条例"
    assert kb.retriever().snapshot.version == second and current_version(index) == second


def test_with_no_intact_version_left_start_up_rebuilds(built, embedder, tmp_path) -> None:
    docs, index, versions = built
    for version in versions:
        _missing_file(index / "versions" / version)
    with pytest.raises(IndexMissing):
        load_snapshot(index)
    settings = make_settings(tmp_path, BOT_INDEX_DIR=str(index), BOT_KNOWLEDGE_DIRS=str(docs))
    env = dict(os.environ, BOT_INDEX_DIR=str(index), BOT_KNOWLEDGE_DIRS=str(docs), BOT_DB_PATH=str(tmp_path / "x.db"),
               BOT_GLOSSARY=str(settings.glossary_path), BOT_UPLOAD_DIR=str(tmp_path / "uploads"))
    result = subprocess.run([sys.executable, "-m", "bot", "ask", QUESTION], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "正在重建" in result.stderr and "《乙条例》第一条" in result.stdout
    assert load_snapshot(index).version not in versions


def test_versions_sealed_before_checksums_existed_still_load(built) -> None:
    _, index, (_, second) = built
    path = index / "versions" / second / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["files"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    assert load_snapshot(index).version == second


# A build killed (SIGKILL) at each point of writing a version: the served index stays intact.
_KILLER = """
import sys, time
import bot.retrieval.store as store
point = sys.argv[1]

def pause(tag):
    print("AT " + tag, flush=True)
    time.sleep(120)

if point == "files":  # some of the version's files written, no manifest yet
    write_index = store.faiss.write_index
    def slow(index, path):
        write_index(index, path)
        pause(point)
    store.faiss.write_index = slow
elif point == "sealed":  # checksums and manifest written, not yet renamed into place
    seal = store.seal
    def slow(folder, manifest):
        seal(folder, manifest)
        pause(point)
    store.seal = slow
elif point == "renamed":  # the version in place, CURRENT not yet moved
    def slow(index_dir, name):
        pause(point)
    store.switch_current = slow
elif point == "pointer":  # half of the new pointer written beside CURRENT
    def slow(index_dir, name):
        (index_dir / ".CURRENT.tmp").write_text(name[:4])
        pause(point)
    store.switch_current = slow
from bot.cli import main
sys.exit(main(["index"]))
"""


@pytest.mark.parametrize("point", ["files", "sealed", "renamed", "pointer"])
def test_a_build_killed_mid_write_leaves_the_served_version_intact(built, embedder, tmp_path, point: str) -> None:
    docs, index, (_, second) = built
    (docs / "戊条例.md").write_text(_law("戊条例", ["建设单位应当办理质量监督手续。", "手续应当齐全。"]),
                                   encoding="utf-8")
    env = dict(os.environ, BOT_INDEX_DIR=str(index), BOT_KNOWLEDGE_DIRS=str(docs),
               BOT_GLOSSARY=str(KNOWLEDGE / "glossary.yaml"), BOT_UPLOAD_DIR=str(tmp_path / "uploads"))
    process = subprocess.Popen([sys.executable, "-c", _KILLER, point], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout.readline().strip() == f"AT {point}"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
    assert current_version(index) == second
    snapshot = load_snapshot(index)
    assert snapshot.version == second and {d["title"] for d in snapshot.documents} == {"乙条例", "丙条例"}
    report = build_index([docs], index, embedder, GLOSSARY)  # the next build succeeds and tidies up
    assert current_version(index) == report.version and "戊条例" in {d["title"] for d in load_snapshot(index).documents}
    assert not [p for p in (index / "versions").iterdir() if p.name.startswith(".")]
