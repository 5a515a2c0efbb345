"""Run a Markdown document's code as a user would paste it: every Python block, in order, in a
fresh folder. A block whose first line is `# <file>, ...` is that file's content (`continued`:
appended; YAML blocks too); the others run as scripts there, and a `print(...)  # expected`
line must print what its comment says. Used for README.md and docs/evaluators.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_HEADER = re.compile(r"^# ([\w./-]+\.(?:py|yaml))(?:,|$)", re.MULTILINE)


def blocks(document: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(document.read_text(encoding="utf-8")) if lang == language]


def user_env(folder: Path) -> dict[str, str]:
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "ASSAY_HOME": str(folder / "home"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def run_code_blocks(document: Path, folder: Path) -> int:
    """Write the document's files into `folder` and run its scripts there; the number of
    scripts run. Fails the calling test on a script's exit status or an unexpected print."""
    env = user_env(folder)
    python = blocks(document, "python")
    scripts = 0
    for body in python + blocks(document, "yaml"):
        header = FILE_HEADER.match(body)
        if header:
            target = folder / header.group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            mode = "a" if "continued" in body.splitlines()[0] else "w"
            with target.open(mode) as handle:
                handle.write(body)
            continue
        if body not in python:
            continue
        script = folder / f"{document.stem.lower()}_block_{scripts}.py"
        script.write_text(body)
        scripts += 1
        result = subprocess.run([sys.executable, str(script)], cwd=folder, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, f"{document.name} block failed:\n{body}\n{result.stderr}"
        expected = [m.group(1).strip() for m in re.finditer(r"^print\(.*\)\s+#\s*(.+)$", body, re.MULTILINE)]
        assert result.stdout.split("\n")[: len(expected)] == expected, (body, result.stdout)
    return scripts


def validate_config(folder: Path) -> subprocess.CompletedProcess:
    """`assay validate-config` on `folder/assay.yaml`, as a subprocess."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("assay")), "validate-config"], cwd=folder,
        env=user_env(folder) | {"ASSAY_CONFIG": str(folder / "assay.yaml")}, capture_output=True, text=True,
        timeout=120, check=False,
    )
