"""Costs filled from the price map or config when the source gave none, with their origin."""

import pyarrow as pa
import pytest

from assay.pricing import batch_price_per_token, fill_missing_costs


def _calls(models, costs, input_tokens, output_tokens) -> pa.Table:
    return pa.table(
        {"model": models, "cost_usd": pa.array(costs, pa.float64()), "input_tokens": input_tokens, "output_tokens": output_tokens}
    )


def test_source_cost_is_kept_and_marked():
    table, counts = fill_missing_costs(_calls(["gpt-4o-mini"], [0.5], [10], [1]))
    assert table.column("cost_usd").to_pylist() == [0.5]
    assert table.column("cost_source").to_pylist() == ["source"]
    assert counts == {"source": 1}


def test_missing_cost_comes_from_litellm_price_map():
    table, _ = fill_missing_costs(_calls(["gpt-4o-mini"], [None], [1000], [100]))
    # gpt-4o-mini in litellm's bundled map: $0.15 / $0.60 per million tokens.
    assert table.column("cost_usd").to_pylist()[0] == pytest.approx(1000 * 0.15e-6 + 100 * 0.6e-6)
    assert table.column("cost_source").to_pylist() == ["litellm_price_map"]


def test_config_price_wins_over_the_map_and_prices_unmapped_models():
    prices = {"gpt-4o-mini": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
              "in-house-llm": {"input_cost_per_token": 1e-7, "output_cost_per_token": 1e-7}}
    table, counts = fill_missing_costs(_calls(["gpt-4o-mini", "in-house-llm"], [None, None], [100, 10], [10, 10]), prices)
    assert table.column("cost_usd").to_pylist() == pytest.approx([100e-6 + 20e-6, 20e-7])
    assert counts == {"config_price": 2}


def test_unknown_model_or_no_tokens_stays_unknown_not_zero():
    table, counts = fill_missing_costs(_calls(["no-such-model-anywhere", "gpt-4o-mini"], [None, None], [10, None], [10, None]))
    assert table.column("cost_usd").to_pylist() == [None, None]
    assert counts == {"unknown": 2}


def test_batch_price_comes_from_the_map_then_config_then_a_discount():
    # gpt-4o-mini's Batch API price in litellm's bundled map: half of $0.15 / $0.60 per million.
    (price_in, price_out), source = batch_price_per_token("gpt-4o-mini", {})
    assert (price_in, price_out) == pytest.approx((0.075e-6, 0.3e-6))
    assert source == "litellm_batch_price_map"
    # A model the map lacks, priced in config: the configured discount applies to its price.
    prices = {"in-house-llm": {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6}}
    (price_in, price_out), source = batch_price_per_token("in-house-llm", prices, discount=0.6)
    assert (price_in, price_out) == pytest.approx((0.6e-6, 2.4e-6))
    assert source == "batch_discount"
    # A batch price in config wins over everything.
    prices = {"gpt-4o-mini": {"input_cost_per_token_batches": 1e-9, "output_cost_per_token_batches": 2e-9}}
    assert batch_price_per_token("gpt-4o-mini", prices) == ((1e-9, 2e-9), "config_price")
    assert batch_price_per_token("no-such-model-anywhere", {}) is None
    with pytest.raises(ValueError, match="fraction of the synchronous price"):
        batch_price_per_token("gpt-4o-mini", {}, discount=1.5)
