"""assay: batch evaluation of LLM applications.

Importing any part of assay switches off third-party telemetry first (see runtime.py).
"""

from assay.runtime import apply_privacy_defaults

apply_privacy_defaults()
