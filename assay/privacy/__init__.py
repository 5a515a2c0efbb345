"""Privacy: PII and secret detection, redaction and pseudonymisation (core infrastructure).

Ingest (`assay.privacy.redaction`), the instrument, the LLM transport (what is sent to a judge)
and the safety evaluators all use these detectors, so they live in the core and import
nothing above it (docs/architecture.md, "Privacy"). Importing this package does not import
pyarrow: `Redactor` is in `assay.privacy.redaction`.
"""

from assay.privacy.pii import (
    DEFAULT_ENTITY_TYPES,
    ENTITY_TYPES,
    PII_CANDIDATE_RE2,
    PiiMatch,
    find_pii,
    normalise_pii_value,
    pii_candidate_re2,
    redact,
)
from assay.privacy.secrets import SECRET_KINDS, SecretMatch, find_secrets
from assay.privacy.structured import DEFAULT_PHONE_REGIONS, iban_valid, luhn_valid

__all__ = [
    "DEFAULT_ENTITY_TYPES",
    "DEFAULT_PHONE_REGIONS",
    "ENTITY_TYPES",
    "PII_CANDIDATE_RE2",
    "SECRET_KINDS",
    "PiiMatch",
    "SecretMatch",
    "find_pii",
    "find_secrets",
    "iban_valid",
    "luhn_valid",
    "normalise_pii_value",
    "pii_candidate_re2",
    "redact",
]
