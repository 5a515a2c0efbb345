"""Offline language identification: Unicode scripts first, then stopword profiles.

Two steps, both pure and dependency-free:

1. Script. Letters are counted per Unicode script range and turned into estimated words (a
   Han character is about one word, a Latin word about five letters), so a Chinese answer
   quoting "PostgreSQL" stays Chinese. A non-Latin dominant script names the language
   directly (Hangul -> ko, kana -> ja, Han without kana -> zh, Greek -> el, Hebrew -> he...);
   Cyrillic and Arabic are split by the letters only some of their languages use.
2. Latin script. Words are matched against stopword profiles of en, de, fr, es, it, pt, nl
   (the most frequent function words of each). A word in k profiles counts 1/k for each, so
   "de" (fr/es/pt/nl) decides little and "the" or "und" decide a lot; a few letters unique
   to one language (ß, ñ, ã) add evidence too. The language with the most evidence wins.

Undetermined (`und`): no letters at all, fewer than `min_words` words, or less than one
profile word's worth of evidence in a short text: "Refund approved." says nothing about its
language. A text of 12 or more Latin words with almost no evidence (under 10% function words) is `other`: a Latin-script
language outside the profiles (Polish, Turkish, Vietnamese...), which is a real answer.

The `language` evaluator over it is at the end of this module.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from assay.evaluators.base import DeterministicEvaluator, Subject, missing_fields
from assay.evaluators.text import MAX_SEARCH_CHARS

from assay.contracts.score import Score

PROFILE_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl")

_STOPWORDS: dict[str, str] = {
    "en": """the and of to a in is it that was for on are with as i his they be at one have
        this from or had by but not what all were we when your can said there an which she do
        how their if will up about out them then he you has would been could should my me our
        these those who into than its also just because any please thank thanks here""",
    "de": """der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als
        auch es an werden aus er hat dass sie nach wird bei einer um am sind noch wie einem
        über einen so zum war haben nur oder aber vor zur bis mehr durch man sein wurde sei
        ich wir ihr ihnen ihre uns kann können bitte wenn was dieser diese sehr hier gibt
        schon keine kein jetzt unsere unser ihren""",
    "fr": """le la les de des du un une et en est que qui dans pour pas au aux sur par avec
        ce cette il elle ils nous vous je ne se sont mais ou plus son sa ses leur été être
        avoir fait comme tout très aussi votre vos notre nos l d qu j n c s y ces était merci
        bonjour peut""",
    "es": """el la los las de del y en que un una es se no por con para su sus al lo como
        más pero le ya o este esta son está están muy también hay cuando porque usted
        nosotros yo tiene ser fue ha han sobre entre todo puede gracias hola mi ese esa eso
        nuestro nuestra""",
    "it": """il lo la i gli le di del della dei delle e è che un una uno in per con non si da
        al alla sono come ma anche più questo questa ci ha hanno essere nel nella dal dalla
        sul molto suo sua loro io noi voi lei grazie perché quando se tutto ancora può l
        degli sua nostro""",
    "pt": """o a os as de do da dos das e é que um uma em no na nos nas para por com não se ao
        aos mais como mas foi são está seu sua ele ela eles você nós eu isso este esta tem
        ter ser pelo pela muito também já quando porque obrigado obrigada até sobre pode
        nosso nossa""",
    "nl": """de het een en van in is dat op te zijn voor met die niet aan er om ook als bij
        maar door naar dan of wordt werd hij zij ze wij we u uw je jij ik dit deze nog wel kan
        heeft hebben worden zal geen meer uit over tot al was waren zo hier heel bedankt ons
        onze""",
}
STOPWORDS: dict[str, frozenset[str]] = {
    lang: frozenset(ws.split()) for lang, ws in _STOPWORDS.items()
}
ALL_STOPWORDS: frozenset[str] = frozenset().union(*STOPWORDS.values())

_LETTER_HINTS: dict[str, tuple[str, ...]] = {
    "ß": ("de",), "ä": ("de",), "ö": ("de",), "ü": ("de",),
    "ñ": ("es",), "¿": ("es",), "¡": ("es",),
    "ã": ("pt",), "õ": ("pt",), "ê": ("pt", "fr"), "ç": ("fr", "pt"),
    "œ": ("fr",), "ù": ("fr",), "î": ("fr",), "ë": ("fr", "nl"),
    "ì": ("it",), "ò": ("it",),
}  # fmt: skip
"""Letters that occur in only one or two of the profiled languages."""

# (first, last, script): checked in order; the first matching range wins.
_SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x024F, "latin"), (0x1E00, 0x1EFF, "latin"),
    (0x0370, 0x03FF, "greek"), (0x1F00, 0x1FFF, "greek"),
    (0x0400, 0x052F, "cyrillic"),
    (0x0530, 0x058F, "armenian"),
    (0x0590, 0x05FF, "hebrew"),
    (0x0600, 0x06FF, "arabic"), (0x0750, 0x077F, "arabic"), (0xFB50, 0xFDFF, "arabic"),
    (0x0900, 0x097F, "devanagari"),
    (0x0980, 0x09FF, "bengali"),
    (0x0A00, 0x0A7F, "gurmukhi"),
    (0x0A80, 0x0AFF, "gujarati"),
    (0x0B80, 0x0BFF, "tamil"),
    (0x0C00, 0x0C7F, "telugu"),
    (0x0C80, 0x0CFF, "kannada"),
    (0x0D00, 0x0D7F, "malayalam"),
    (0x0D80, 0x0DFF, "sinhala"),
    (0x0E00, 0x0E7F, "thai"),
    (0x0E80, 0x0EFF, "lao"),
    (0x1000, 0x109F, "myanmar"),
    (0x10A0, 0x10FF, "georgian"),
    (0x1100, 0x11FF, "hangul"), (0x3130, 0x318F, "hangul"), (0xAC00, 0xD7AF, "hangul"),
    (0x1200, 0x137F, "ethiopic"),
    (0x1780, 0x17FF, "khmer"),
    (0x3040, 0x30FF, "kana"), (0x31F0, 0x31FF, "kana"), (0xFF66, 0xFF9F, "kana"),
    (0x3400, 0x4DBF, "han"), (0x4E00, 0x9FFF, "han"), (0xF900, 0xFAFF, "han"),
)  # fmt: skip

_LETTERS_PER_WORD = {"han": 1.5, "kana": 2.0, "hangul": 3.0, "arabic": 4.0, "hebrew": 4.0}
"""Letters per word by script (others: 5), so scripts are compared in estimated words."""

_SCRIPT_LANGUAGE = {
    "greek": "el", "armenian": "hy", "hebrew": "he", "devanagari": "hi", "bengali": "bn",
    "gurmukhi": "pa", "gujarati": "gu", "tamil": "ta", "telugu": "te", "kannada": "kn",
    "malayalam": "ml", "sinhala": "si", "thai": "th", "lao": "lo", "myanmar": "my",
    "georgian": "ka", "hangul": "ko", "ethiopic": "am", "khmer": "km",
}  # fmt: skip
"""Scripts used by one language (or, for Devanagari, one far more than the others)."""

SCRIPT_LANGUAGES = frozenset(_SCRIPT_LANGUAGE.values()) | {
    "ja",
    "zh",
    "ru",
    "uk",
    "bg",
    "sr",
    "ar",
    "fa",
    "ur",
}
SUPPORTED_LANGUAGES: frozenset[str] = frozenset(PROFILE_LANGUAGES) | SCRIPT_LANGUAGES

_OTHER_LATIN_LETTERS = frozenset("łąęśźżćńışğřěůșțăơưđőűčšžľťňďħġċ")
"""Letters of Latin-script languages outside the profiles (Polish, Turkish, Czech, Romanian,
Vietnamese, Hungarian, Maltese...), none used by en, de, fr, es, it, pt or nl."""
OTHER_LATIN_MIN_LETTER_SHARE = 0.02
OTHER_LATIN_MAX_DENSITY_WITH_LETTERS = 0.2
"""Two percent of letters from other languages and under 20% function words: `other`. A
German text naming Łódź once keeps its function words and stays German."""

MIN_EVIDENCE = 1.0
"""Weighted stopword hits below which a short Latin text is undetermined."""
OTHER_LATIN_MIN_WORDS = 12
OTHER_LATIN_MAX_DENSITY = 0.1
"""A Latin text of 12+ words where under 10% of the words are profile function words is in a
language outside the profiles. Prose in a profiled language measured 0.25-0.6 on the test
sentences, a 12-word English product list 0.17; Polish prose 0.07, Turkish 0."""

_WORD = re.compile(r"[^\W\d_]+")


def script_of(ch: str) -> str | None:
    code = ord(ch)
    for first, last, script in _SCRIPT_RANGES:
        if first <= code <= last:
            return script
    return None


@dataclass(frozen=True)
class Detection:
    language: str
    """ISO 639-1 code, `und` (undetermined) or `other` (Latin script, not profiled)."""
    shares: dict[str, float] = field(default_factory=dict)
    """Each candidate language's share of the evidence, largest first."""
    reason: str = ""

    def share(self, language: str) -> float:
        return self.shares.get(language, 0.0)


def _cyrillic_language(text: str) -> str:
    """Ukrainian and Serbian have letters of their own; Bulgarian lacks ы and э but uses ъ
    a lot; anything else is taken for Russian (the most common by far)."""
    letters = set(text.casefold())
    if letters & set("іїєґ"):
        return "uk"
    if letters & set("ђјљњћџ"):
        return "sr"
    if not letters & set("ыэё") and "ъ" in letters:
        return "bg"
    return "ru"


def _arabic_script_language(text: str) -> str:
    letters = set(text)
    if letters & set("ٹڈڑںے"):
        return "ur"
    if letters & set("پچژگ"):
        return "fa"
    return "ar"


def detect_language(text: str, *, min_words: int = 3) -> Detection:
    """The language of a text (see the module docstring for the method and its limits)."""
    script_letters: Counter[str] = Counter()
    for ch in text:
        if ch.isalpha():
            script = script_of(ch)
            if script is not None:
                script_letters[script] += 1
    if not script_letters:
        return Detection("und", reason="no letters")
    script_words = {s: n / _LETTERS_PER_WORD.get(s, 5.0) for s, n in script_letters.items()}
    if "han" in script_words and "kana" in script_words:
        script_words["kana"] += script_words.pop("han")  # Japanese writes kanji with kana
    total_words = sum(script_words.values())
    dominant = max(script_words, key=lambda s: script_words[s])
    script_shares = {s: n / total_words for s, n in script_words.items()}
    if dominant != "latin":
        if dominant == "kana":
            language = "ja"
        elif dominant == "han":
            language = "zh"
        elif dominant == "cyrillic":
            language = _cyrillic_language(text)
        elif dominant == "arabic":
            language = _arabic_script_language(text)
        else:
            language = _SCRIPT_LANGUAGE[dominant]
        shares = {language: script_shares[dominant]}
        shares.update({s: v for s, v in script_shares.items() if s != dominant})
        if total_words < min_words:
            return Detection(
                "und",
                _sorted(shares),
                f"about {total_words:.1f} words, fewer than min_words={min_words}",
            )
        return Detection(language, _sorted(shares), f"{dominant} script")
    return _detect_latin(text, min_words, script_shares.get("latin", 1.0))


def _detect_latin(text: str, min_words: int, latin_share: float) -> Detection:
    words = [w for w in _WORD.findall(text.casefold()) if all(script_of(c) == "latin" for c in w)]
    if len(words) < min_words:
        return Detection("und", reason=f"{len(words)} word(s), fewer than min_words={min_words}")
    evidence: Counter[str] = Counter()
    for word in words:
        owners = [lang for lang in PROFILE_LANGUAGES if word in STOPWORDS[lang]]
        for lang in owners:
            evidence[lang] += 1 / len(owners)
    word_evidence = sum(evidence.values())
    density = word_evidence / len(words)
    letters = sum(map(len, words))
    foreign = sorted({c for w in words for c in w if c in _OTHER_LATIN_LETTERS})
    foreign_share = sum(c in _OTHER_LATIN_LETTERS for w in words for c in w) / letters
    if (
        foreign_share >= OTHER_LATIN_MIN_LETTER_SHARE
        and density < OTHER_LATIN_MAX_DENSITY_WITH_LETTERS
    ):
        return Detection(
            "other", reason=f"letters of languages outside the profiles ({''.join(foreign[:8])})"
        )
    if len(words) >= OTHER_LATIN_MIN_WORDS and density < OTHER_LATIN_MAX_DENSITY:
        return Detection(
            "other",
            reason=f"{len(words)} words, {word_evidence:.0f} of them function words of "
            f"{', '.join(PROFILE_LANGUAGES)}",
        )
    for ch in text.casefold():
        for lang in (owners := _LETTER_HINTS.get(ch, ())):
            evidence[lang] += 0.5 / len(owners)
    total = sum(evidence.values())
    if total < MIN_EVIDENCE:
        return Detection("und", reason=f"{len(words)} words with no common function words")
    shares = _sorted({lang: latin_share * n / total for lang, n in evidence.items()})
    ranked = list(shares.values())
    if len(ranked) > 1 and ranked[0] - ranked[1] < 1e-9:
        tied = [lang for lang, v in shares.items() if ranked[0] - v < 1e-9]
        return Detection("und", shares, f"tie between {', '.join(tied)}")
    best = next(iter(shares))
    return Detection(best, shares, f"function words, {len(words)} words")


def _sorted(shares: dict[str, float]) -> dict[str, float]:
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


# ------------------------------------------------------------------------ the evaluator


@dataclass(kw_only=True)
class Language(DeterministicEvaluator):
    """The output is written in the expected `language` (ISO 639-1 code, e.g. `de`).

    Offline detection (`detect_language` above): Unicode script ranges name non-Latin
    languages (ja, zh, ko, ru, uk, el, ar, he, hi, th...); Latin-script text is matched
    against function-word profiles of en, de, fr, es, it, pt, nl. A mixed text counts as its
    dominant language. The score's label is the detected code; the value is the expected
    language's share of the evidence (0-1).

    A text too short to tell (fewer than `min_words` words, default 3, or no function word
    at all: "Refund approved.") is undetermined (`und`). `undetermined` says what then
    happens: `skip` (default: a `skipped` score, so short answers neither pass nor fail),
    `pass` (passed, label `und`) or `fail`. A long Latin text with almost no profile
    function word is labelled `other` (Polish, Turkish...) and fails.
    """

    output: ClassVar[str] = "pass/fail + label (detected language) + share 0-1"
    example: ClassVar[dict[str, Any]] = {"language": "en"}
    language: str
    min_words: int = 3
    undetermined: Literal["skip", "pass", "fail"] = "skip"
    failure_category: str | None = "format_break"
    metric: str = "language"

    def __post_init__(self) -> None:
        if not isinstance(self.language, str) or self.language.lower() not in SUPPORTED_LANGUAGES:
            raise ValueError(
                f"language: `language` must be an ISO 639-1 code this detector knows "
                f"(got {self.language!r}); known: {', '.join(sorted(SUPPORTED_LANGUAGES))}"
            )
        self.language = self.language.lower()
        if (
            isinstance(self.min_words, bool)
            or not isinstance(self.min_words, int)
            or self.min_words < 1
        ):
            raise ValueError(
                f"language: `min_words` must be a positive integer (got {self.min_words!r})"
            )
        if self.undetermined not in ("skip", "pass", "fail"):
            raise ValueError(
                f"language: `undetermined` must be skip, pass or fail (got {self.undetermined!r})"
            )

    def evaluate(self, subject: Subject) -> list[Score]:
        if missing_fields(subject, self.required_fields):
            return super().evaluate(subject)
        started = time.perf_counter()
        detection = detect_language(
            str(subject["output_text"])[:MAX_SEARCH_CHARS], min_words=self.min_words
        )
        shares = ", ".join(f"{k} {v:.2f}" for k, v in list(detection.shares.items())[:3])
        evidence = f" ({shares})" if shares else ""
        fields: dict[str, Any] = {
            "label": detection.language,
            "details": {
                "detected": detection.language,
                "shares": {k: round(v, 4) for k, v in detection.shares.items()},
                "reason": detection.reason,
            },
            "duration_ms": (time.perf_counter() - started) * 1000,
        }
        if detection.language == "und":
            reason = f"language undetermined: {detection.reason}"
            if self.undetermined == "skip":
                return [self.score(subject, status="skipped", explanation=reason, **fields)]
            passed = self.undetermined == "pass"
            return [self.score(subject, passed=passed, value=None, explanation=reason, **fields)]
        passed = detection.language == self.language
        verdict = "" if passed else f", expected {self.language}"
        return [
            self.score(
                subject,
                passed=passed,
                value=round(detection.share(self.language), 4),
                explanation=f"detected {detection.language} by {detection.reason}{evidence}{verdict}",
                **fields,
            )
        ]
