"""Text from outside (a log source, a scanner file, a form) made fit for one-line places: a
title, an e-mail subject. A line break there makes an e-mail unsendable ("Header values
can't contain newlines"), and a terminal escape misleads whoever reads it."""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls (CR, LF, VT, FF, NEL, ESC ...), DEL, the Unicode line and paragraph
# separators: each run becomes one space.
_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Half a character: no mail server or database takes it.
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def single_line(value: Any, limit: int | None = None) -> str:
    """`value` as one line: control characters and line breaks become single spaces, runs of
    white space one space, no space at either end; cut to `limit` characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _LONE_SURROGATE.sub("\ufffd", _BREAKING.sub(" ", text))
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[:limit].rstrip()
    return text
