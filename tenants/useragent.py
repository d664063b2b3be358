"""A readable device from a User-Agent header: "Firefox 128 on Windows", "Safari on iPhone".

Only what a person needs to recognise their own sessions: the common browsers and operating
systems, newest rules first (Edge and Opera also say "Chrome", every Chromium says "Safari").
Anything else is "Unknown browser" / "unknown system"; an empty header is "Unknown device".
Not a security control: the header is whatever the client chose to send.
"""

from __future__ import annotations

import re

MAX_LABEL = 100

# (name, pattern): the first that matches names the browser; group 1 is its major version.
_BROWSERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("Edge", r"\bEdg(?:e|A|iOS)?/(\d+)"),
        ("Opera", r"\b(?:OPR|Opera)/(\d+)"),
        ("Samsung Internet", r"\bSamsungBrowser/(\d+)"),
        ("Vivaldi", r"\bVivaldi/(\d+)"),
        ("Firefox", r"\b(?:Firefox|FxiOS)/(\d+)"),
        ("Chrome", r"\b(?:Chrome|CriOS|HeadlessChrome)/(\d+)"),
        ("Safari", r"\bVersion/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/"),
        ("curl", r"^curl/(\d+)"),
        ("Python", r"\bpython-(?:requests|httpx|urllib\d?)/(\d+)"),
    )
)

_SYSTEMS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("iPhone", r"\biPhone\b"),
        ("iPad", r"\biPad\b"),
        ("Android", r"\bAndroid\b"),
        ("ChromeOS", r"\bCrOS\b"),
        ("Windows", r"\bWindows\b"),
        ("macOS", r"\bMac OS X\b|\bMacintosh\b"),
        ("Linux", r"\bLinux\b|\bX11\b"),
    )
)


def describe(user_agent: str) -> str:
    """A short, readable browser and system for the sessions page and the audit log."""
    user_agent = (user_agent or "").strip()
    if not user_agent:
        return "Unknown device"
    browser = "Unknown browser"
    for name, pattern in _BROWSERS:
        match = pattern.search(user_agent)
        if match:
            browser = f"{name} {match[1]}"
            break
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), "")
    label = f"{browser} on {system}" if system else browser
    return label[:MAX_LABEL]
