"""Judge subjects for tests and benchmarks: a RAG answer each, every prompt distinct."""

from __future__ import annotations


def refund_subjects(n: int, offset: int = 0) -> list[dict]:
    """`n` faithfulness subjects (question, context, response) with ids `call-<offset + i>`."""
    return [
        {
            "subject_id": f"call-{offset + i}",
            "input_text": f"How long does the refund for order {offset + i} take?",
            "context": [f"Refunds for order {offset + i} are issued within {i % 9 + 1} business days."],
            "output_text": f"Your refund for order {offset + i} takes {i % 9 + 1} business days.",
        }
        for i in range(n)
    ]
