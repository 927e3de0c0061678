"""质量通 — a chat assistant for construction-quality regulations."""

__version__ = "0.1.0"
