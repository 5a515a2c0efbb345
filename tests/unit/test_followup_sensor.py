"""The nightly follow-up: after a daily run, curate its day, unless a later curate_job run
already covers it (the CLI curates after its own days, so a daemon started after `make demo`
has nothing to follow up)."""

from assay.orchestration.sensors import curated_since

DAY = "2026-11-20"


def test_no_later_curate_run_means_follow_up():
    assert curated_since(DAY, []) is False


def test_a_later_curate_run_of_that_day_covers_it():
    assert curated_since(DAY, [{"assay/days": "2026-11-19,2026-11-20"}]) is True


def test_a_later_curate_run_of_every_day_covers_it():
    assert curated_since(DAY, [{}]) is True


def test_a_later_curate_run_of_other_days_does_not():
    assert curated_since(DAY, [{"assay/days": "2026-11-18,2026-11-19"}]) is False


def test_a_malformed_days_tag_covers_nothing():
    assert curated_since(DAY, [{"assay/days": "yesterday"}]) is False
