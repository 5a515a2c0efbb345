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


@pytest.mark.parametrize(("key", "variable"), [
    ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
    ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
    ("endpoint_url", "AWS_ENDPOINT_URL_S3"),
    ("region", "AWS_REGION"),
])
def test_credentials_and_endpoints_are_refused_naming_the_environment_variable(tmp_path, key, variable):
    path = write(tmp_path, f"storage:\n  lake: s3://b/p\n  {key}: wJalrXUtnFEMI-not-a-real-one\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:5: key `storage.{key}`: does not go in assay.yaml: set {variable}" in message
    assert "wJalrXUtnFEMI" not in message


@pytest.mark.parametrize(("lake", "says"), [
    ("s3://AKIAEXAMPLE:secret@bucket/p", "credentials do not go in the lake URL"),
    ("gs://bucket/p", "must be a local folder or s3://bucket/prefix"),
    ("s3:///p", "names no bucket"),
])
def test_bad_lake_urls_are_refused(tmp_path, lake, says):
    path = write(tmp_path, f"storage:\n  lake: {lake}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}:4: key `storage.lake`: {says}" in str(info.value)
    assert "secret@" not in str(info.value)


def test_the_cli_refuses_a_secret_in_one_line_and_exit_status_2(tmp_path):
    path = write(tmp_path, "storage:\n  lake: s3://b/p\n  aws_secret_access_key: hunter2hunter2\n")
    checked = assay("validate-config", cwd=tmp_path, env=user_env(tmp_path / "home", path))
    assert checked.returncode == 2
    assert f"{path}:5: key `storage.aws_secret_access_key`: does not go in assay.yaml" in checked.stderr
    assert "hunter2" not in checked.stderr + checked.stdout and "Traceback" not in checked.stderr
