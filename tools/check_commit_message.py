#!/usr/bin/env python3
"""The commit-msg hook (.pre-commit-config.yaml): a subject of at most 72 characters, a blank
line, then a body that says why.

72 is what `git log --oneline`, `git shortlog` and the web views show without cutting; the body
is where a later reader finds the reason a line is the way it is. Usage (what git passes):
`check_commit_message.py .git/COMMIT_EDITMSG`; exits 1, saying what is wrong, when it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

MAX_SUBJECT = 72
# git's own subjects for commits it writes (a merge, a revert) and the ones `git rebase
# --autosquash` folds away: no body is asked of them.
BODY_OPTIONAL = ("Merge ", "Revert ", "fixup! ", "squash! ", "amend! ")
# `git commit -v` puts the diff below this line; git drops it, and so does the check.
SCISSORS = "# ------------------------ >8 ------------------------"


def message_lines(text: str) -> list[str]:
    """The message as git will store it: no comment lines, nothing below the scissors, no
    trailing spaces, no blank lines before or after."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith(SCISSORS):
            break
        if line.startswith("#"):
            continue
        lines.append(line.rstrip())
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def problems(text: str) -> list[str]:
    """What is wrong with the commit message `text`; empty when nothing is."""
    lines = message_lines(text)
    if not lines:
        return ["The message is empty."]
    subject, rest = lines[0], lines[1:]
    found = []
    if len(subject) > MAX_SUBJECT:
        found.append(
            f"The subject has {len(subject)} characters; at most {MAX_SUBJECT}: "
            f"'{subject[:MAX_SUBJECT]}' | '{subject[MAX_SUBJECT:]}'"
        )
    if rest and rest[0]:
        found.append("A blank line goes between the subject and the body.")
    if not any(rest) and not subject.startswith(BODY_OPTIONAL):
        found.append("A body says why (a blank line after the subject, then the reason).")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {Path(argv[0]).name} COMMIT_MESSAGE_FILE", file=sys.stderr)
        return 2
    found = problems(Path(argv[1]).read_text(encoding="utf-8"))
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
