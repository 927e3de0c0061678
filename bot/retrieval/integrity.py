"""Index versions that can be trusted: sealed with checksums, made durable, verified when loaded.

Sealing a finished version records the SHA-256 and size of every file under its directory in its manifest
(``files``), whatever files a version holds, and fsyncs each file, each directory and the manifest before the
version is renamed into place and ``CURRENT`` moves to it. Loading verifies every recorded file. A damaged
version is set aside (renamed ``.damaged-<name>``) and the newest good one served instead; with none left,
the caller rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CURRENT = "CURRENT"
VERSIONS = "versions"
DAMAGED = ".damaged-"


class IndexDamaged(Exception):
    """A version whose files do not match its manifest, or cannot be read (the message says which)."""


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def seal(folder: Path, manifest: dict) -> dict:
    """Checksum every file of a version into ``manifest["files"]``, write the manifest, make it all durable."""
    files = {}
    for path in _files(folder):
        fsync_file(path)
        files[path.relative_to(folder).as_posix()] = {"sha256": file_digest(path), "bytes": path.stat().st_size}
    manifest = {**manifest, "files": files}
    temporary = folder / f".{MANIFEST}.tmp"
    with open(temporary, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, folder / MANIFEST)
    for directory in sorted({p.parent for p in folder.rglob("*")} | {folder}, key=lambda d: -len(d.parts)):
        fsync_dir(directory)
    return manifest


def read_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexDamaged(f"{folder.name}: no manifest") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IndexDamaged(f"{folder.name}: unreadable manifest ({type(exc).__name__})") from exc
    if not isinstance(manifest, dict):
        raise IndexDamaged(f"{folder.name}: malformed manifest")
    return manifest


def verify(folder: Path) -> dict:
    """The manifest of a version whose every recorded file is present and intact; else IndexDamaged.

    Versions sealed before checksums existed (no ``files`` in the manifest) are accepted as they are.
    """
    manifest = read_manifest(folder)
    files = manifest.get("files")
    if files is None:
        log.info("index version %s has no checksums (built before they existed)", folder.name)
        return manifest
    if not isinstance(files, dict) or not files:
        raise IndexDamaged(f"{folder.name}: malformed file list in the manifest")
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise IndexDamaged(f"{folder.name}: {name} is missing")
        if path.stat().st_size != expected.get("bytes"):
            raise IndexDamaged(f"{folder.name}: {name} has {path.stat().st_size} bytes, not {expected.get('bytes')}")
        if file_digest(path) != expected.get("sha256"):
            raise IndexDamaged(f"{folder.name}: {name} does not match its checksum")
    return manifest


def current_version(index_dir: Path) -> str | None:
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def switch_current(index_dir: Path, name: str) -> None:
    """Point CURRENT at ``name`` atomically and durably."""
    pointer = index_dir / f".{CURRENT}.tmp"
    with open(pointer, "w", encoding="utf-8") as fh:
        fh.write(name)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer, index_dir / CURRENT)
    fsync_dir(index_dir)


def finished_versions(index_dir: Path) -> list[str]:
    """Names of the finished versions, newest first (names sort by creation time)."""
    versions = index_dir / VERSIONS
    if not versions.is_dir():
        return []
    return sorted((p.name for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)


def set_aside(index_dir: Path, name: str, reason: str) -> None:
    """Rename a damaged version out of the way (kept for inspection until the next build prunes it)."""
    source = index_dir / VERSIONS / name
    try:
        os.replace(source, index_dir / VERSIONS / f"{DAMAGED}{name}")
        fsync_dir(index_dir / VERSIONS)
    except OSError:
        return  # another process set it aside already
    log.error("index version %s is damaged and was set aside: %s", name, reason)
