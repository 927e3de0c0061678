"""The training notes the project ships: every citation names an indexed article or plan section."""

from __future__ import annotations

import re

from bot.ingest import load_document
from tests.conftest import KNOWLEDGE

# （《文件》第X条） or （《文件》（四）小标题）: a location may open with its own （…） numbering.
_CITATION = re.compile(r"（《([^《》]+)》((?:（[^（）]*）)?[^（）]*)）")


def _citations() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((KNOWLEDGE / "training").glob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("- "):
                found = _CITATION.findall(line)
                assert found, f"{path.name}: a point without a citation: {line}"
                out.extend((path.name, doc, loc) for doc, loc in found)
    return out


def test_training_notes_are_parsed_as_training_material() -> None:
    files = sorted((KNOWLEDGE / "training").glob("*.md"))
    assert len(files) >= 8
    for path in files:
        doc = load_document(path)
        assert doc.kind == "training" and doc.title.startswith("培训资料")
        assert len(doc.chunks) >= 1


def test_every_citation_resolves_to_an_indexed_article(corpus_kb) -> None:
    retriever = corpus_kb.retriever()
    citations = _citations()
    assert len(citations) >= 40
    missing = []
    for file, name, loc in citations:
        title = retriever.names.resolve(name)
        if title is None or (title, loc) not in retriever.snapshot.by_article:
            missing.append(f"{file}: 《{name}》{loc}")
    assert not missing, missing


def test_training_material_answers_on_the_shipped_knowledge_alone(tmp_path, embedder) -> None:
    from bot.knowledge import KnowledgeBase
    from tests.conftest import make_settings

    kb = KnowledgeBase(make_settings(tmp_path), embedder)
    kb.ensure_index()
    answer = kb.answer("房屋的屋面防水最低保修几年？")
    assert answer.answered
    assert "5年" in answer.text and "培训资料：工程质量保修" in answer.text
