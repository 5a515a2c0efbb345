"""The README's code runs as written: every Python block, in order, in a fresh folder, as a
user would paste it. A block whose first line is `# <file>, ...` is that file's content
(`continued`: appended); the others run as scripts there, and a `print(...)  # expected` line
must print what its comment says. The README's config snippet passes `assay validate-config`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_HEADER = re.compile(r"^# ([\w./-]+\.(?:py|yaml))(?:,|$)", re.MULTILINE)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall((ROOT / "README.md").read_text()) if lang == language]


def test_every_python_block_of_the_readme_runs(tmp_path):
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "ASSAY_HOME": str(tmp_path / "home"),
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    scripts = 0
    for body in blocks("python") + blocks("yaml"):
        header = FILE_HEADER.match(body)
        if header:
            target = tmp_path / header.group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            mode = "a" if "continued" in body.splitlines()[0] else "w"
            with target.open(mode) as handle:
                handle.write(body)
            continue
        if body not in blocks("python"):
            continue
        script = tmp_path / f"readme_block_{scripts}.py"
        script.write_text(body)
        scripts += 1
        result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, f"README block failed:\n{body}\n{result.stderr}"
        expected = [m.group(1).strip() for m in re.finditer(r"^print\(.*\)\s+#\s*(.+)$", body, re.MULTILINE)]
        assert result.stdout.split("\n")[: len(expected)] == expected, (body, result.stdout)
    assert scripts >= 2 and (tmp_path / "checks.py").exists() and (tmp_path / "assay.yaml").exists()

    from evaluators.golden import load_golden_dir

    assert len(load_golden_dir(tmp_path / "golden")) == 2  # the README's golden set validates
    validated = subprocess.run(
        [str(Path(sys.executable).with_name("assay")), "validate-config"], cwd=tmp_path,
        env=env | {"ASSAY_CONFIG": str(tmp_path / "assay.yaml")}, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith("ok: 1 evaluators")
