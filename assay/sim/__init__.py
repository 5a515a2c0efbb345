"""Simulated LLM provider `sim` for litellm: demo and test stand-ins for real models.

Importing this package is cheap; litellm is imported by `register_sim_provider()`.
"""

from assay.sim.provider import SIM_MODELS, SimProfile, SimReply, register_sim_provider, simulate

__all__ = ["SIM_MODELS", "SimProfile", "SimReply", "register_sim_provider", "simulate"]
