"""Indexing and hybrid (BM25 + dense) retrieval of articles. Knows nothing of chat."""
