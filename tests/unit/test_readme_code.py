"""The README's code runs as written (`tests/support/doc_code.py`: every Python block, in order,
in a fresh folder, as a user would paste it). The README's config snippet passes
`assay validate-config`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.doc_code import run_code_blocks, validate_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # whole Python processes that load assay, Dagster or dbt: `make test` only
def test_every_python_block_of_the_readme_runs(tmp_path):
    scripts = run_code_blocks(ROOT / "README.md", tmp_path)
    assert scripts >= 2 and (tmp_path / "checks.py").exists() and (tmp_path / "assay.yaml").exists()

    from assay.evaluators.golden import load_golden_dir

    assert len(load_golden_dir(tmp_path / "golden")) == 2  # the README's golden set validates
    validated = validate_config(tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith("ok: 1 evaluators")
