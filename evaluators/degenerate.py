"""The `degenerate_output` evaluator: repeated-token junk, punctuation runs and brackets that
do not nest (`assay.detectors.degenerate`), without flagging real code, JSON, tables or lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from assay.evaluators.base import Subject
from assay.evaluators.evidence import DetailedEvaluator, Finding

from assay.detectors.degenerate import degenerate_flags


@dataclass(kw_only=True)
class DegenerateOutput(DetailedEvaluator):
    """Fails when the output is degenerate: a few tokens repeated to fill it, a long run of
    punctuation and brackets, or brackets that do not nest (outside quoted strings).

    Real code, JSON (anything that parses is never flagged), markdown tables, lists and prose
    pass. The value is 1.0 when degenerate, else 0.0 (its mean is the degenerate rate);
    details name each flag and what crossed the line. Offline, no parameters.
    """

    output: ClassVar[str] = "pass/fail (1.0 = degenerate)"
    example: ClassVar[dict[str, Any]] = {}
    failure_category: str | None = "format_break"
    metric: str = "degenerate_output"

    def inspect(self, subject: Subject) -> Finding:
        flags = degenerate_flags(str(subject["output_text"]))
        details = {"flags": [{"kind": f.kind, "observed": f.observed} for f in flags]}
        if not flags:
            return Finding(True, 0.0, "not degenerate", details=details)
        return Finding(False, 1.0, "degenerate output: " + "; ".join(f"{f.kind} ({f.why})" for f in flags), details=details)
