"""The CJK font that certificates embed and charts draw with: WenQuanYi Micro Hei (TrueType outlines, so
ReportLab can embed a subset), installed by the project's own dependency ``paperang-p2-fonts-cjk``."""

from __future__ import annotations

import threading
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

FONT_NAME = "WenQuanYiMicroHei"
_registered = threading.Lock()


@lru_cache(maxsize=1)
def cjk_font_path() -> Path:
    path = Path(str(files("paperang_p2_fonts_cjk") / "fonts" / "wqy-microhei.ttc"))
    if not path.is_file():
        raise FileNotFoundError(f"CJK font missing: {path} (reinstall the project: pip install -e .)")
    return path


def reportlab_font() -> str:
    """Register the font with ReportLab (once) and return its name; PDFs then embed the glyphs they use."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    with _registered:
        if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(cjk_font_path()), subfontIndex=0))
    return FONT_NAME


def matplotlib_font():  # -> matplotlib.font_manager.FontProperties
    from matplotlib.font_manager import FontProperties

    return FontProperties(fname=str(cjk_font_path()))
