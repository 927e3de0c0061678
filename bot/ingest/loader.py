"""Find document files and load each into a :class:`Document`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from bot.ingest.models import Document, IngestError
from bot.ingest.readers import read_file
from bot.ingest.structure import parse_text

SUPPORTED_SUFFIXES = {".md", ".txt", ".docx", ".pdf"}
# Data files that live beside documents in knowledge/ and are not documents themselves.
_DATA_SUFFIXES = {".yaml", ".yml", ".toml", ".json", ".jsonl", ".csv"}
_KIND_MARK = re.compile(r"<!--\s*kind:\s*(\w+)\s*-->")


def discover_files(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand files and directories into document files; also return (path, reason) for skipped ones.

    README files describe a folder and are not indexed; data files (YAML, JSON …) are passed over.
    """
    found: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for root in paths:
        if root.is_file():
            candidates = [(root, True)]
        elif root.is_dir():
            candidates = [(p, False) for p in sorted(root.rglob("*")) if p.is_file()]
        else:
            skipped.append((root, "路径不存在"))
            continue
        for path in candidates:
            file, explicit = path
            rel_parts = file.relative_to(root).parts if not explicit else (file.name,)
            if any(part.startswith(".") for part in rel_parts):
                continue
            suffix = file.suffix.lower()
            if suffix in SUPPORTED_SUFFIXES:
                if not explicit and file.stem.upper() == "README":
                    continue
                found.append(file)
            elif explicit or suffix not in _DATA_SUFFIXES:
                skipped.append((file, f"不支持的文件类型：{suffix or '无扩展名'}"))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, skipped


def classify(title: str, path: Path, text: str) -> str:
    """The document kind, from an explicit ``<!-- kind: … -->`` mark, the folder, or the title."""
    mark = _KIND_MARK.search(text[:2000])
    if mark:
        return mark.group(1)
    if any(part.lower() in {"training", "培训资料"} for part in path.parts):
        return "training"
    if title.startswith("最高人民法院") or "司法解释" in title:
        return "judicial_interpretation"
    if re.search(r"(通知|方案|计划|意见)$", title):
        return "notice"
    if re.search(r"法$", title):
        return "law"
    if re.search(r"(条例|规定|办法|细则)$", title):
        if re.match(r"^[\u4e00-\u9fff]{2,4}(省|市|自治区)", title):
            return "local_regulation"
        return "administrative_regulation"
    return "training"


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_document(path: Path) -> Document:
    """Read and parse one file. Raises IngestError (reason in Chinese) when it cannot be used."""
    text, data = read_file(path)
    parsed = parse_text(text, path.name)
    kind = classify(parsed.title, path, text)
    if not parsed.chunks:
        raise IngestError("没有找到可索引的正文")
    document = Document(
        title=parsed.title, kind=kind, path=str(path), sha256=file_sha256(data), date=parsed.date
    )
    for n, chunk in enumerate(parsed.chunks):
        chunk.kind = kind
        chunk.id = f"{document.sha256[:12]}-{n}"
    document.chunks = parsed.chunks
    return document
