"""What a call cost when its source did not say: litellm's bundled price map, or a price set
in assay.yaml (`pricing:`) for models the map lacks or gets wrong.

Costs are computed per model, not per row: a day has a handful of models and a million calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

COST_FROM_SOURCE = "source"
COST_FROM_CONFIG = "config_price"
COST_FROM_PRICE_MAP = "litellm_price_map"
COST_UNKNOWN = "unknown"
# A provider's Batch API price: litellm's map has it for many models (`*_cost_per_token_batches`);
# for the rest assay applies the configured discount to the synchronous price and says so.
COST_FROM_BATCH_PRICE_MAP = "litellm_batch_price_map"
COST_FROM_BATCH_DISCOUNT = "batch_discount"
# OpenAI, Anthropic, Azure, Vertex AI and Bedrock all sell batch inference at half price.
DEFAULT_BATCH_DISCOUNT = 0.5


def price_per_token(model: str, overrides: Mapping[str, Mapping[str, float]]) -> tuple[tuple[float, float], str] | None:
    """((input USD/token, output USD/token), where the price came from), or None if unknown."""
    if model in overrides:
        price = overrides[model]
        return (price.get("input_cost_per_token", 0.0), price.get("output_cost_per_token", 0.0)), COST_FROM_CONFIG
    import litellm

    litellm.suppress_debug_info = True  # it prints a banner for every unmapped model
    try:
        info = litellm.get_model_info(model)
    except Exception:  # litellm raises its own error types for unmapped models
        return None
    input_cost, output_cost = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if input_cost is None and output_cost is None:
        return None
    return (input_cost or 0.0, output_cost or 0.0), COST_FROM_PRICE_MAP


def batch_price_per_token(
    model: str,
    overrides: Mapping[str, Mapping[str, float]],
    discount: float = DEFAULT_BATCH_DISCOUNT,
) -> tuple[tuple[float, float], str] | None:
    """((input USD/token, output USD/token), where the price came from) for a request sent
    through the provider's Batch API, or None if no price is known.

    In order: a batch price in `pricing:` (`input_cost_per_token_batches`), litellm's batch
    price, then the synchronous price (config or map) times `discount` (the fraction of the
    synchronous price the provider charges: 0.5 is half price).
    """
    if not 0.0 < discount <= 1.0:
        raise ValueError(f"batch discount must be in (0, 1], the fraction of the synchronous price charged; got {discount}")
    configured = overrides.get(model, {})
    batch_in, batch_out = configured.get("input_cost_per_token_batches"), configured.get("output_cost_per_token_batches")
    if batch_in is not None or batch_out is not None:
        return (batch_in or 0.0, batch_out or 0.0), COST_FROM_CONFIG
    if model not in overrides:
        import litellm

        litellm.suppress_debug_info = True
        try:
            info = litellm.get_model_info(model)
        except Exception:  # litellm raises its own error types for unmapped models
            info = {}
        input_cost, output_cost = info.get("input_cost_per_token_batches"), info.get("output_cost_per_token_batches")
        if input_cost is not None or output_cost is not None:
            return (input_cost or 0.0, output_cost or 0.0), COST_FROM_BATCH_PRICE_MAP
    sync = price_per_token(model, overrides)
    if sync is None:
        return None
    (input_cost, output_cost), _ = sync
    return (input_cost * discount, output_cost * discount), COST_FROM_BATCH_DISCOUNT


def price_info(model: str, overrides: Mapping[str, Mapping[str, float]]) -> Mapping[str, Any]:
    """The model's price entry: the config's (`pricing:`), else litellm's map ({} if unmapped)."""
    if model in overrides:
        return overrides[model]
    import litellm

    litellm.suppress_debug_info = True
    try:
        return litellm.get_model_info(model)
    except Exception:  # litellm raises its own error types for unmapped models
        return {}


def cache_prices(model: str, overrides: Mapping[str, Mapping[str, float]]) -> tuple[float, float]:
    """(USD per input token read from the prompt cache, per token written to it): the config's
    or litellm's price, else the plain input price (a provider that reports cached tokens
    without saying their price is charged as for input)."""
    info = price_info(model, overrides)
    plain = info.get("input_cost_per_token") or 0.0
    read, write = info.get("cache_read_input_token_cost"), info.get("cache_creation_input_token_cost")
    return (plain if read is None else read), (plain if write is None else write)


def fill_missing_costs(
    calls: pa.Table,
    overrides: Mapping[str, Mapping[str, float]] | None = None,
    cache: dict[str, tuple[tuple[float, float], str] | None] | None = None,
) -> tuple[pa.Table, Counter]:
    """Fill `cost_usd` where it is null and tokens are known; set `cost_source` on every row.

    Returns the table and a count of rows per cost source. `cache` (model -> price) keeps the
    lookups across calls, for a day filled batch by batch.
    """
    overrides = overrides or {}
    has_cost = pc.is_valid(calls["cost_usd"])
    source = pc.if_else(has_cost, pa.scalar(COST_FROM_SOURCE), pa.scalar(COST_UNKNOWN))
    cost = calls["cost_usd"]
    missing = pc.invert(has_cost)
    if pc.any(missing).as_py():
        input_tokens = pc.fill_null(calls["input_tokens"], 0)
        output_tokens = pc.fill_null(calls["output_tokens"], 0)
        has_tokens = pc.or_(pc.is_valid(calls["input_tokens"]), pc.is_valid(calls["output_tokens"]))
        models = pc.unique(pc.filter(calls["model"], missing)).to_pylist()
        for model in models:
            if cache is not None and model in cache:
                priced = cache[model]
            else:
                priced = price_per_token(model, overrides) if model else None
                if cache is not None:
                    cache[model] = priced
            if priced is None:
                continue
            (input_price, output_price), origin = priced
            rows = pc.and_(pc.and_(missing, has_tokens), pc.equal(calls["model"], model))
            computed = pc.add(
                pc.multiply(pc.cast(input_tokens, pa.float64()), input_price),
                pc.multiply(pc.cast(output_tokens, pa.float64()), output_price),
            )
            cost = pc.if_else(rows, computed, cost)
            source = pc.if_else(rows, pa.scalar(origin), source)
    index = calls.schema.get_field_index("cost_usd")
    calls = calls.set_column(index, "cost_usd", cost)
    source_index = calls.schema.get_field_index("cost_source")
    if source_index >= 0:
        calls = calls.set_column(source_index, "cost_source", source)
    else:
        calls = calls.append_column("cost_source", source)
    return calls, Counter(source.to_pylist())
