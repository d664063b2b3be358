"""Fonts for the PDFs, so that a customer's text shows in the script it was written in.

reportlab's built-in Helvetica has Latin-1 only: a Greek, Cyrillic, Hebrew, Devanagari, Thai
or Chinese title came out as black boxes or nothing. The PDFs use DejaVu Sans (Latin, Greek,
Cyrillic and more) from Debian's fonts-dejavu-core, and every character DejaVu lacks is set in
the first fallback that has it: Noto Sans faces for Arabic, Hebrew, Indic scripts, Thai,
Armenian and Georgian (fonts-noto-core), Droid Sans Fallback for Chinese and Japanese
(fonts-droid-fallback) and Nanum Gothic for Korean (fonts-nanum). Each is embedded as a subset
of the glyphs used. The charts' labels stay in Helvetica (sla.charts): a label cannot change
fonts mid-string.

Fonts are looked up under REPORT_FONT_DIRS. Where DejaVu is missing (a bare development
machine), the PDFs fall back to Helvetica as before and a warning says so once; where only a
fallback is missing, its script shows as the primary font's empty boxes.

reportlab lays text out left to right without shaping, so right-to-left runs are put in visual
order (python-bidi) and Arabic letters joined into their presentation forms (arabic-reshaper)
first. Scripts that need full shaping (Indic conjuncts, Thai stacking) show their letters but
not always their ligatures.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

import arabic_reshaper
from bidi import get_display
from django.conf import settings
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

logger = logging.getLogger(__name__)

PRIMARY = ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf")
FALLBACKS = (
    "noto/NotoSansArabic-Regular.ttf",
    "noto/NotoSansHebrew-Regular.ttf",
    "noto/NotoSansDevanagari-Regular.ttf",
    "noto/NotoSansBengali-Regular.ttf",
    "noto/NotoSansTamil-Regular.ttf",
    "noto/NotoSansThai-Regular.ttf",
    "noto/NotoSansArmenian-Regular.ttf",
    "noto/NotoSansGeorgian-Regular.ttf",
    "droid/DroidSansFallbackFull.ttf",  # Chinese, Japanese (and Korean jamo)
    "nanum/NanumGothic.ttf",  # Korean syllables
)


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    covered: frozenset[int]  # code points the primary font has
    fallbacks: tuple[tuple[str, frozenset[int]], ...]  # (font name, its code points)

    def font_for(self, char: str) -> str | None:
        """The fallback that sets `char`, or None for the primary font."""
        point = ord(char)
        if point in self.covered or char.isspace():
            return None
        for name, points in self.fallbacks:
            if point in points:
                return name
        return None


def _find(relative: str) -> Path | None:
    for folder in settings.REPORT_FONT_DIRS:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def _register(name: str, relative: str) -> frozenset[int] | None:
    path = _find(relative)
    if path is None:
        return None
    try:
        font = TTFont(name, str(path))
    except TTFError:
        logger.warning("the font %s cannot be used in PDFs", path, exc_info=True)
        return None
    pdfmetrics.registerFont(font)
    return frozenset(font.face.charToGlyph)


@cache
def fonts() -> Fonts:
    """The PDFs' fonts, registered with reportlab once per process."""
    covered = _register("Report", PRIMARY[0])
    if covered is None or _register("Report-Bold", PRIMARY[1]) is None:
        logger.warning(
            "DejaVu Sans is not under %s (Debian: fonts-dejavu-core): PDFs use Helvetica, "
            "which shows Latin-1 text only",
            settings.REPORT_FONT_DIRS,
        )
        return Fonts("Helvetica", "Helvetica-Bold", frozenset(range(256)), ())
    fallbacks = []
    for n, relative in enumerate(FALLBACKS):
        points = _register(f"ReportFallback{n}", relative)
        if points is not None:
            fallbacks.append((f"ReportFallback{n}", points))
    return Fonts("Report", "Report-Bold", covered, tuple(fallbacks))


def markup(text: object) -> str:
    """`text` as reportlab paragraph markup: escaped (tenant data is never markup), each run of
    characters the primary font lacks wrapped in the fallback font that has them."""
    chosen = fonts()
    out: list[str] = []
    run: list[str] = []
    current: str | None = None
    for char in visual(str(text)):
        font = chosen.font_for(char)
        if font != current and run:
            out.append(_run("".join(run), current))
            run = []
        current = font
        run.append(char)
    if run:
        out.append(_run("".join(run), current))
    return "".join(out)


RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


def visual(text: str) -> str:
    """Text in the order it is drawn: right-to-left runs reversed (python-bidi), Arabic letters
    in their joined forms. Left-to-right text is returned as it is."""
    if not RIGHT_TO_LEFT.search(text):
        return text
    return str(get_display(arabic_reshaper.reshape(text)))


def _run(text: str, font: str | None) -> str:
    return escape(text) if font is None else f'<font name="{font}">{escape(text)}</font>'


def needs_fallback(text: object) -> bool:
    """Whether `text` has a character the primary font lacks (a table cell then needs to be a
    paragraph, which can change fonts mid-line)."""
    chosen = fonts()
    return any(chosen.font_for(char) is not None for char in str(text))
