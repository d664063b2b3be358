"""tools/check_commit_message.py, the commit-msg hook (.pre-commit-config.yaml): a subject of at
most 72 characters, a blank line, then a body; git's comments and `-v` diff are not the message."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "check_commit_message.py"
spec = importlib.util.spec_from_file_location("check_commit_message", SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

BODY = "\n\nThe reason, for whoever reads this line next.\n"


def test_a_subject_of_72_characters_with_a_body_passes():
    assert check.problems("x" * 72 + BODY) == []


def test_a_subject_of_73_characters_is_refused_and_the_cut_is_shown():
    (problem,) = check.problems("Alerts: " + "y" * 64 + "z" + BODY)
    assert "73 characters; at most 72" in problem
    assert problem.endswith("| 'z'")


def test_a_message_without_a_body_is_refused():
    assert check.problems("Fix the pager\n") == [
        "A body says why (a blank line after the subject, then the reason)."
    ]


def test_the_body_is_separated_by_a_blank_line():
    assert check.problems("Fix the pager\nbecause the cursor was lost\n") == [
        "A blank line goes between the subject and the body."
    ]


def test_an_empty_message_is_refused():
    assert check.problems("\n# Please enter the commit message\n\n") == ["The message is empty."]


@pytest.mark.parametrize(
    "subject",
    ["Merge branch 'main' into pager", 'Revert "Fix the pager"', "fixup! Fix the pager"],
)
def test_commits_git_writes_or_folds_away_need_no_body(subject):
    assert check.problems(subject + "\n") == []


def test_comments_and_the_verbose_diff_are_not_the_message():
    message = (
        "\n\nFix the pager" + BODY + "# Please enter the commit message for your changes.\n"
        "# ------------------------ >8 ------------------------\n"
        "diff --git a/x b/x\n" + "+" + "w" * 200 + "\n"
    )
    assert check.problems(message) == []
    assert check.message_lines(message) == [
        "Fix the pager",
        "",
        "The reason, for whoever reads this line next.",
    ]


def test_the_hook_exits_1_and_says_why(tmp_path):
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text("z" * 80 + BODY, encoding="utf-8")
    refused = subprocess.run(
        [sys.executable, str(SCRIPT), str(message)], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 1
    assert "80 characters; at most 72" in refused.stderr
    message.write_text("Pager: keep the filters on the first page" + BODY, encoding="utf-8")
    passed = subprocess.run(
        [sys.executable, str(SCRIPT), str(message)], capture_output=True, text=True, check=False
    )
    assert (passed.returncode, passed.stderr) == (0, "")


def test_the_pre_commit_config_runs_this_script_at_commit_msg():
    config = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    assert "entry: .venv/bin/python tools/check_commit_message.py" in config
    assert "stages: [commit-msg]" in config
    assert "commit-msg" in config.split("default_install_hook_types:")[1].splitlines()[0]
