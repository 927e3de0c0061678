"""Reading documents and cutting them into article-level chunks."""

from bot.ingest.loader import SUPPORTED_SUFFIXES, discover_files, load_document
from bot.ingest.models import Chunk, Document, IngestError

__all__ = ["Chunk", "Document", "IngestError", "SUPPORTED_SUFFIXES", "discover_files", "load_document"]
