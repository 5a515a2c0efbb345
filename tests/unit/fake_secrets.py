"""Key-shaped test values for the secret detectors, made at import from a fixed seed.

They have each provider's format (prefix, alphabet, length) and are no credential. Building
them here keeps every key-shaped literal (and documented example keys, which scanners flag
all the same) out of the repository, and gives every test the same values run after run.
"""

from __future__ import annotations

import base64
import random
import string

_rng = random.Random(20261122)
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits


def chars(alphabet: str, n: int) -> str:
    """n characters of `alphabet`; with letters and digits both in it, the result has both, as
    generated keys do (the detectors ask a secret to mix them)."""
    while True:
        text = "".join(_rng.choice(alphabet) for _ in range(n))
        mixes = any(c.isdigit() for c in text) and any(c.isalpha() for c in text)
        if mixes or not (set(alphabet) & set(string.digits) and set(alphabet) & set(string.ascii_letters)):
            return text


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


OPENAI = "sk-proj-" + chars(ALNUM, 24)
OPENAI_LEGACY = "sk-" + chars(ALNUM, 24)
ANTHROPIC = "sk-ant-api03-" + chars(ALNUM, 26)
AWS_KEY_ID = "AKIA" + chars(UPPER_DIGITS, 16)
AWS_SECRET = chars(ALNUM + "/+", 40)
GITHUB = "ghp_" + chars(ALNUM, 36)
SLACK = "xoxb-" + chars(string.digits, 10) + "-" + chars(string.digits, 10) + "-" + chars(ALNUM, 12)
STRIPE = "sk_" + "live_" + chars(ALNUM, 24)
GOOGLE = "AIza" + chars(ALNUM + "_-", 35)
JWT = _b64url('{"alg":"HS256"}') + "." + _b64url('{"sub":"1234567890"}') + "." + chars(ALNUM + "_-", 43)
GENERIC = chars(ALNUM, 22)
PEM_LINES = [base64.b64encode(_rng.randbytes(48)).decode() for _ in range(2)]
PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(PEM_LINES) + "\n-----END RSA PRIVATE KEY-----"
