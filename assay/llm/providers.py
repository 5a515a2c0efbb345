"""Makes litellm ready for the models a run calls: the offline `sim/` provider registered
when a request needs it, and the configured prices (`pricing:` in assay.yaml) put in
litellm's price map."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def ensure_providers(models: Iterable[str], prices: Mapping[str, Mapping[str, float]] | None = None) -> None:
    if any(m.startswith("sim/") for m in models):
        from assay.sim import register_sim_provider

        register_sim_provider()
    if prices:
        register_prices(prices)


_registered: dict[str, tuple[float, float]] = {}


def register_prices(prices: Mapping[str, Mapping[str, float]]) -> None:
    """Configured prices into litellm's price map. litellm prices every response it returns;
    for a model missing from its map that is ~10 failed lookups per call (1.5-3 ms of CPU,
    measured against the local test server), and its cost disagrees with the config's."""
    import litellm

    entries = {}
    for model, price in prices.items():
        per_token = (float(price.get("input_cost_per_token", 0.0)), float(price.get("output_cost_per_token", 0.0)))
        if _registered.get(model) == per_token:
            continue
        entry: dict[str, object] = {"input_cost_per_token": per_token[0], "output_cost_per_token": per_token[1], "mode": "chat"}
        if "/" in model:
            entry["litellm_provider"] = model.split("/", 1)[0]
        entries[model] = entry
        _registered[model] = per_token
    if entries:
        litellm.register_model(entries)
