"""Figures as people read them, the same on every page, PDF and CSV: the SLA pages and the
reports (which show the same compliance for the same period) both format through here."""

from __future__ import annotations


def duration(seconds: float | None) -> str:
    """A mean time: 45 s, 12 min, 3 h 05 min, 2 d 4 h; an em dash when there is none."""
    if seconds is None:
        return "—"
    seconds = round(float(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def percent(share: float | None) -> str:
    """A share (0.955) as a percentage to one decimal, a whole one without it: 95.5 %, 95 %,
    0 %; an em dash when there is none."""
    if share is None:
        return "—"
    text = f"{share * 100:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + " %"
