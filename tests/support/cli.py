"""Run the `assay` command as a user does: a process of its own running the console script's
entry point, in the user's folder, with their environment; its exit status, stdout and stderr
returned. It is forked from the preloaded test launcher (tests/support/launcher.py), or a fresh
interpreter when `env` (or this process) sets ASSAY_TEST_COLD=1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support import launcher
from tests.support.launcher import ASSAY


def user_env(home: Path, config: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: their ASSAY_HOME and ASSAY_CONFIG, no demo settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "DAGSTER_"))}
    return env | {"ASSAY_HOME": str(home), "ASSAY_CONFIG": str(config), **extra}


def assay(
    *args: str, cwd: Path, env: dict[str, str], timeout_s: float = 600, stdin_text: str = ""
) -> subprocess.CompletedProcess:
    """`stdin_text`: what the user types (standard input ends after it, as when nobody is there)."""
    return launcher.run([str(ASSAY), *args], cwd=cwd, env=env, input=stdin_text, timeout=timeout_s)


def one_line(stderr: str) -> str:
    """The single `assay: ...` line a failing command ends with (asserting there is one)."""
    lines = [line for line in stderr.splitlines() if line.startswith("assay: ")]
    assert len(lines) == 1, f"expected one `assay:` line, got:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    return lines[0]
