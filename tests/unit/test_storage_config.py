"""`storage:` in assay.yaml: where the lake and the warehouse live. The default (no section)
is the lake under ASSAY_HOME as before; an s3:// lake and a lake-shared warehouse reach every
process through ASSAY_LAKE / ASSAY_WAREHOUSE; secrets are refused with one line naming the
file, line and key, and the environment variable to use instead (never echoing the value)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.config import LAKE_ENV, WAREHOUSE_ENV, ConfigError, load_config
from assay.lake import Lake
from assay.runtime import AssayHome
from tests.support.cli import assay, user_env


@pytest.fixture(autouse=True)
def clean_storage_env(monkeypatch):
    # load_config sets these process-wide: monkeypatch restores them after each test.
    for name in (LAKE_ENV, WAREHOUSE_ENV):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "assay.yaml"
    path.write_text("project:\n  app: shop\n" + text)
    return path


def test_no_storage_section_keeps_the_lake_and_warehouse_under_assay_home(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config.storage.lake is None and not config.storage.is_lake_warehouse
    home = AssayHome(tmp_path / "home")
    assert home.lake == tmp_path / "home" / "lake"
    assert home.warehouse == tmp_path / "home" / "warehouse.duckdb"
    assert not Lake(home.lake).is_remote


def test_an_s3_lake_reaches_every_process_and_shares_the_warehouse(tmp_path):
    load_config(write(tmp_path, "storage:\n  lake: s3://team-bucket/assay/\n"))
    home = AssayHome(tmp_path / "home")
    assert home.lake == "s3://team-bucket/assay"
    assert Lake(home.lake).is_remote
    assert str(Lake(home.lake).table_dir("raw_calls")) == "assaylake://team-bucket/assay/raw_calls"
    import os

    assert os.environ[WAREHOUSE_ENV] == "lake"
    # A config without the section (another project in the same process) puts both back.
    load_config(write(tmp_path, ""))
    assert AssayHome(tmp_path / "home").lake == tmp_path / "home" / "lake"
    assert WAREHOUSE_ENV not in os.environ


def test_a_local_lake_folder_is_relative_to_the_config(tmp_path):
    config = load_config(write(tmp_path, "storage:\n  lake: shared/lake\n  warehouse: local\n"))
    assert AssayHome(tmp_path / "home").lake == (tmp_path / "shared" / "lake").resolve()
    assert not config.storage.is_lake_warehouse


@pytest.mark.parametrize(("storage", "says", "never_echoed"), [
    ("  lake: s3://b/p\n  aws_secret_access_key: wJalrXUtnFEMI-not-real",
     ":5: key `storage.aws_secret_access_key`: does not go in assay.yaml: set AWS_SECRET_ACCESS_KEY", "wJalr"),
    ("  lake: s3://b/p\n  aws_access_key_id: AKIAEXAMPLE",
     ":5: key `storage.aws_access_key_id`: does not go in assay.yaml: set AWS_ACCESS_KEY_ID", "AKIA"),
    ("  lake: s3://b/p\n  endpoint_url: http://minio:9000",
     ":5: key `storage.endpoint_url`: does not go in assay.yaml: set AWS_ENDPOINT_URL_S3", "minio"),
    ("  lake: s3://b/p\n  region: eu-west-1", ":5: key `storage.region`: does not go in assay.yaml: set AWS_REGION",
     "eu-west"),
    ("  instance: sqlite\n  postgres_url: postgresql+psycopg2://assay:pg-not-real@db/assay",
     ":5: key `storage.postgres_url`: does not go in assay.yaml: set ASSAY_PG_URL in the environment", "pg-not-real"),
    ("  lake: s3://AKIAEXAMPLE:secret@bucket/p", ":4: key `storage.lake`: credentials do not go in the lake URL",
     "secret@"),
    ("  lake: gs://bucket/p", ":4: key `storage.lake`: must be a local folder or s3://bucket/prefix", "\0"),
    ("  lake: s3:///p", ":4: key `storage.lake`: names no bucket", "\0"),
])
def test_secrets_endpoints_and_bad_urls_are_refused_at_their_line(tmp_path, storage, says, never_echoed):
    path = write(tmp_path, f"storage:\n{storage}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}{says}" in str(info.value)
    assert never_echoed not in str(info.value)


def test_the_cli_refuses_a_secret_in_one_line_and_exit_status_2(tmp_path):
    path = write(tmp_path, "storage:\n  lake: s3://b/p\n  aws_secret_access_key: hunter2hunter2\n")
    checked = assay("validate-config", cwd=tmp_path, env=user_env(tmp_path / "home", path))
    assert checked.returncode == 2
    assert f"{path}:5: key `storage.aws_secret_access_key`: does not go in assay.yaml" in checked.stderr
    assert "hunter2" not in checked.stderr + checked.stdout and "Traceback" not in checked.stderr
