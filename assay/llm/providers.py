"""Registers the offline `sim/` provider with litellm when a request needs it."""

from __future__ import annotations

from collections.abc import Iterable


def ensure_providers(models: Iterable[str]) -> None:
    if any(m.startswith("sim/") for m in models):
        from assay.sim import register_sim_provider

        register_sim_provider()
