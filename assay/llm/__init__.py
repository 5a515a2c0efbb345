"""Every LLM call assay makes (judging and candidate replay) goes through `LLMEngine`."""

from assay.llm.engine import LLMEngine, LLMRequest, LLMResult

__all__ = ["LLMEngine", "LLMRequest", "LLMResult"]
