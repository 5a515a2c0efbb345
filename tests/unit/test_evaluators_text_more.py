from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from assay.evaluators import build_evaluator
from assay.evaluators.text import EndsWith, Equals, StartsWith
from assay.evaluators.text_email import ContainsEmail, IsEmail
from assay.evaluators.text_gibberish import NotGibberish, gibberish_signals
from assay.evaluators.text_language import Language, detect_language
from assay.evaluators.text_links import (
    ContainsLink,
    ValidLinks,
    find_urls,
    host_allowed,
    url_problem,
)
from assay.evaluators.text_size import (
    Length,
    OneLine,
    ReadingTime,
    WordCount,
    count_tokens,
    count_words,
)


def subject(output_text, **fields):
    return {"subject_id": "c1", "output_text": output_text, **fields}


def one(evaluator, subj):
    [score] = evaluator.evaluate(subj)
    return score


# --- contains presets ------------------------------------------------------------------------


def test_contains_presets_fix_the_mode():
    text = subject("Your refund is on its way")
    assert one(build_evaluator("a", "contains_any", {"value": ["refund", "x"]}), text).passed
    assert not one(build_evaluator("b", "contains_all", {"value": ["refund", "x"]}), text).passed
    assert not one(build_evaluator("c", "contains_none", {"value": ["REFUND"]}), text).passed
    with pytest.raises(ValueError, match="fixed by the type"):
        build_evaluator("d", "contains_none", {"value": "x", "mode": "any"})


# --- equals / starts_with / ends_with -------------------------------------------------------


def test_equals_strips_whitespace_and_is_case_sensitive_by_default():
    assert one(Equals(name="e", value="positive"), subject("  positive\n")).passed is True
    assert one(Equals(name="e", value="positive"), subject("Positive")).passed is False
    assert one(Equals(name="e", value="positive", ignore_case=True), subject("POSITIVE")).passed
    strict = Equals(name="e", value="positive", strip_whitespace=False)
    score = one(strict, subject("positive "))
    assert score.passed is False and "it is 'positive '" in score.explanation
    assert one(Equals(name="e", value="positive"), subject("positive!")).passed is False


def test_equals_with_a_list_of_labels():
    evaluator = Equals(name="e", value=["positive", "negative", "neutral"])
    assert one(evaluator, subject("neutral")).passed is True
    score = one(evaluator, subject("mixed"))
    assert score.passed is False and "'positive' or 'negative' or 'neutral'" in score.explanation


def test_starts_and_ends_with():
    text = subject("\n Dear customer, thanks.\nKind regards  ")
    assert one(StartsWith(name="s", value="Dear customer"), text).passed is True
    assert one(StartsWith(name="s", value="dear customer"), text).passed is False
    assert one(StartsWith(name="s", value="dear customer", ignore_case=True), text).passed is True
    assert one(StartsWith(name="s", value="Dear", strip_whitespace=False), text).passed is False
    assert one(EndsWith(name="e", value=["Best regards", "Kind regards"]), text).passed is True
    assert (
        one(EndsWith(name="e", value="Kind regards", strip_whitespace=False), text).passed is False
    )


@pytest.mark.parametrize("bad", [[], [1], None, "", ["ok", "  "]])
def test_compare_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="value"):
        Equals(name="e", value=bad)


# --- length in tokens, words, reading time, one line -----------------------------------------


def test_count_tokens_and_words():
    assert count_tokens("Hello, world! It's 2024.") == 9  # Hello , world ! It ' s 2024 .
    assert count_tokens("") == 0
    # Don't / stop / state-of-the-art / tools / 3 / of / them
    assert count_words("Don't stop: state-of-the-art tools, 3 of them.") == 7
    assert count_words("  ") == 0


def test_length_in_tokens():
    evaluator = Length(name="l", unit="tokens", max_tokens=5)
    assert evaluator.metric == "length_tokens"
    ok = one(evaluator, subject("Hello, world!"))
    assert (ok.passed, ok.value) == (True, 4.0)
    long = one(evaluator, subject("Hello, big wide world!"))
    assert (long.passed, long.value) == (False, 6.0)
    assert long.explanation == "6 tokens, more than max_tokens=5"


def test_length_unit_and_bounds_must_agree():
    with pytest.raises(ValueError, match="max_chars given with unit='tokens'"):
        Length(name="l", unit="tokens", max_chars=5)
    with pytest.raises(ValueError, match="min_tokens given with unit='chars'"):
        Length(name="l", min_tokens=5)
    with pytest.raises(ValueError, match="at least one of `min_tokens`"):
        Length(name="l", unit="tokens")
    with pytest.raises(ValueError, match="unit"):
        Length(name="l", unit="words", min_chars=1)


def test_word_count_bounds():
    evaluator = WordCount(name="w", min_words=3, max_words=5)
    assert one(evaluator, subject("one two three")).passed is True
    short = one(evaluator, subject("one two"))
    assert (short.passed, short.value, short.explanation) == (
        False,
        2.0,
        "2 words, fewer than min_words=3",
    )
    assert one(evaluator, subject("a b c d e f")).passed is False
    with pytest.raises(ValueError, match="greater than"):
        WordCount(name="w", min_words=5, max_words=3)


def test_reading_time_at_default_and_custom_rate():
    text = subject(" ".join(["word"] * 238))
    at_default = one(ReadingTime(name="r", max_seconds=60), text)
    assert at_default.passed is True and at_default.value == pytest.approx(60.0)
    assert at_default.metric == "reading_time_s"
    slow = one(ReadingTime(name="r", max_seconds=60, words_per_minute=200), text)
    assert slow.passed is False and slow.value == pytest.approx(238 / 200 * 60)
    with pytest.raises(ValueError, match="words_per_minute"):
        ReadingTime(name="r", max_seconds=60, words_per_minute=0)


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ("A single title\n", True),
        ("  padded  ", True),
        ("two\nlines", False),
        ("windows\r\nbreak", False),
        ("unicode\u2028separator", False),
    ],
)
def test_one_line(text, passed):
    assert one(OneLine(name="o"), subject(text)).passed is passed


# --- language --------------------------------------------------------------------------------

SENTENCES = {
    "en": "Your refund has been processed and should appear on your statement within five business days.",
    "de": "Ihre Rückerstattung wurde bearbeitet und sollte innerhalb von fünf Werktagen auf Ihrem Konto erscheinen.",
    "fr": "Votre remboursement a été traité et devrait apparaître sur votre relevé dans les cinq jours ouvrables.",
    "es": "Su reembolso ha sido procesado y debería aparecer en su estado de cuenta dentro de cinco días hábiles.",
    "it": "Il tuo rimborso è stato elaborato e dovrebbe apparire sul tuo estratto conto entro cinque giorni lavorativi.",
    "pt": "O seu reembolso foi processado e deve aparecer no seu extrato dentro de cinco dias úteis.",
    "nl": "Uw terugbetaling is verwerkt en zou binnen vijf werkdagen op uw afschrift moeten verschijnen.",
    "ru": "Ваш возврат обработан и появится на вашем счёте в течение пяти рабочих дней.",
    "uk": "Ваше повернення оброблено і з’явиться на вашому рахунку протягом п’яти робочих днів.",
    "ja": "ご返金は処理されました。5営業日以内に明細に反映されます。",
    "zh": "您的退款已处理，将在五个工作日内显示在您的账单上。",
    "ko": "환불이 처리되었으며 영업일 기준 5일 이내에 명세서에 표시됩니다.",
    "ar": "تمت معالجة المبلغ المسترد وسيظهر في كشف حسابك خلال خمسة أيام عمل.",
    "el": "Η επιστροφή χρημάτων σας έχει διεκπεραιωθεί.",
    "he": "ההחזר שלך עובד ויופיע בחשבונך בתוך חמישה ימי עסקים.",
    "hi": "आपका रिफंड संसाधित कर दिया गया है और पांच कार्य दिवसों में दिखाई देगा।",
}
SHORT = {
    "en": "Thanks, it is done.",
    "de": "Danke, das ist erledigt.",
    "fr": "Merci, c'est fait.",
    "es": "Gracias, ya está hecho.",
    "it": "Grazie, è fatto.",
    "pt": "Obrigado, já está feito.",
    "nl": "Bedankt, het is gedaan.",
}


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_detects_each_language_in_a_real_sentence(language):
    assert detect_language(SENTENCES[language]).language == language


@pytest.mark.parametrize("language", sorted(SHORT))
def test_detects_short_sentences_of_three_or_four_words(language):
    assert detect_language(SHORT[language]).language == language


def test_mixed_text_counts_as_its_dominant_language():
    en_with_fr = (
        "The customer wrote « merci pour votre aide » and we replied that the refund is on its way."
    )
    fr_with_en = (
        "Nous avons bien reçu votre demande de remboursement, the order number is 1234, "
        "et nous vous répondrons dans les plus brefs délais."
    )
    zh_with_names = "我们使用 PostgreSQL 和 Kubernetes 部署服务，所有数据都保存在本地。"
    assert detect_language(en_with_fr).language == "en"
    assert detect_language(fr_with_en).language == "fr"
    assert detect_language(zh_with_names).language == "zh"
    assert 0 < detect_language(en_with_fr).share("fr") < 0.5


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Refund approved.", "fewer than min_words=3"),
        ("Order shipped yesterday via FedEx", "no common function words"),
        ("12345 !!!", "no letters"),
        ("谢谢", "fewer than min_words=3"),
    ],
)
def test_undetermined_texts(text, reason):
    detection = detect_language(text)
    assert detection.language == "und" and reason in detection.reason


def test_unprofiled_latin_language_is_other():
    polish = (
        "Twój zwrot został przetworzony i powinien pojawić się na wyciągu w ciągu pięciu dni "
        "roboczych, dziękujemy za cierpliwość oraz zrozumienie."
    )
    turkish = (
        "Siparişiniz yarın kargoya verilecek ve üç iş günü içinde adresinize teslim edilecektir."
    )
    assert detect_language(polish).language == "other"
    assert detect_language(turkish).language == "other"
    german_naming_lodz = "Die Lieferung nach Łódź ist unterwegs und wird morgen bei Ihnen sein."
    assert detect_language(german_naming_lodz).language == "de"


def test_language_evaluator_label_value_and_failure():
    evaluator = Language(name="lang", language="de")
    ok = one(evaluator, subject(SENTENCES["de"]))
    assert (ok.passed, ok.label) == (True, "de") and ok.value == 1.0
    wrong = one(evaluator, subject(SENTENCES["en"]))
    assert (wrong.passed, wrong.label, wrong.value) == (False, "en", 0.0)
    assert wrong.explanation.endswith("expected de") and wrong.failure_category == "format_break"


def test_language_undetermined_modes():
    short = subject("Refund approved.")
    skipped = one(Language(name="l", language="en"), short)
    assert (skipped.status, skipped.label) == ("skipped", "und")
    assert "language undetermined" in skipped.explanation
    passed = one(Language(name="l", language="en", undetermined="pass"), short)
    assert (passed.status, passed.passed, passed.label) == ("completed", True, "und")
    failed = one(Language(name="l", language="en", undetermined="fail"), short)
    assert failed.passed is False


def test_language_rejects_unknown_codes():
    with pytest.raises(ValueError, match="known: .*de.*"):
        Language(name="l", language="english")
    with pytest.raises(ValueError, match="undetermined"):
        Language(name="l", language="en", undetermined="maybe")


# --- gibberish -------------------------------------------------------------------------------

REAL = [
    "Your refund has been processed and should appear on your statement within five business days.",
    "Die Lieferung Ihrer Bestellung verzögert sich leider um zwei Tage. Wir erstatten die Versandkosten.",
    "def total(items):\n    return sum(i.price * i.qty for i in items if i.qty > 0)\n",
    '{"order_id": "A-1", "items": [{"sku": "X", "qty": 2}], "total": 10.5}',
    "- Item: apple, price: 1\n- Item: pear, price: 2\n- Item: plum, price: 3",
    "ご返金は処理されました。5営業日以内に明細に反映されます。",
    "Contact Dr. Przybylski at Szczecin HQ, ref XJ9-KQZ7.",
    "OK",
]
GIBBERISH = [
    "asdfgh jkl qwerty zxcvbnm sdfkjh wqerty lkjhg fdsa poiuyt mnbvcx",
    "jfkdls ghtyrn bvncmx sldkfj qpwoei rutyal zmxncb vhdjks",
    "Yessssssssss!!!! Sooooooooo goooooooood aaaaaaaaaaaaaaaaaaaaaaaaa",
    "I am sorry, I am sorry, I am sorry, I am sorry, I am sorry, I am sorry, I am sorry.",
    " ".join(["the"] * 40),
    "#### $$$ %%% @@@ !!! ??? *** &&& ^^^ ~~~",
]


@pytest.mark.parametrize("text", REAL)
def test_real_text_is_not_gibberish(text):
    score = one(NotGibberish(name="g"), subject(text))
    assert score.passed is True and score.value >= 0.6, score.explanation


@pytest.mark.parametrize("text", GIBBERISH)
def test_mashed_and_degenerate_text_is_gibberish(text):
    score = one(NotGibberish(name="g"), subject(text))
    assert score.passed is False and score.value < 0.3, score.explanation
    assert "weakest:" in score.explanation


def test_gibberish_names_the_broken_signal():
    loop = gibberish_signals(GIBBERISH[3])
    assert loop.repeated_trigram_share > 0.8 and loop.vowel_health == 1.0
    mash = gibberish_signals(GIBBERISH[0])
    assert mash.mashed_word_share > 0.5 and mash.wordlike_share < 0.3
    assert "keyboard mashing" in one(NotGibberish(name="g"), subject(GIBBERISH[0])).explanation


def test_gibberish_threshold_param():
    text = subject("Contact Dr. Przybylski at Szczecin HQ, ref XJ9-KQZ7.")
    value = one(NotGibberish(name="g"), text).value
    assert 0.5 < value < 1.0
    assert one(NotGibberish(name="g", threshold=0.99), text).passed is False
    with pytest.raises(ValueError, match="threshold"):
        NotGibberish(name="g", threshold=5)


# --- emails ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ("support@example.com", True),
        ("  first.last+tag@mail.example.co.uk\n", True),
        ("o'brien@example.ie", True),
        ("support@example", False),
        ("support@@example.com", False),
        (".lead@example.com", False),
        ("a..b@example.com", False),
        ("Write to support@example.com", False),
        ("a@-example.com", False),
        ("x" * 65 + "@example.com", False),
    ],
)
def test_is_email(text, passed):
    assert one(IsEmail(name="e"), subject(text)).passed is passed


def test_contains_email_gives_positions_not_addresses():
    score = one(ContainsEmail(name="e"), subject("Mail ana@example.com or bo@example.org."))
    assert score.passed is True
    assert score.explanation == "2 email address(es) at char 5, 24"
    assert "ana@" not in score.explanation
    assert (
        one(ContainsEmail(name="e"), subject("Mail us at support (at) example.com")).passed is False
    )
    assert one(ContainsEmail(name="e"), subject("version 1.2@3.4")).passed is False


# --- links -----------------------------------------------------------------------------------


def test_find_urls_trims_punctuation_and_markdown():
    text = (
        "See https://example.com/a_(b). Also [docs](https://docs.example.com/x?y=1), "
        "**www.example.org**, and htps://typo.example.com; mail a@www.example.com"
    )
    assert [u for _, u in find_urls(text)] == [
        "https://example.com/a_(b)",
        "https://docs.example.com/x?y=1",
        "www.example.org",
        "htps://typo.example.com",
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://example.com/path?q=1#x", None),
        ("http://127.0.0.1:8080/", None),
        ("http://[::1]/", None),
        ("http://localhost:3000", None),
        ("www.example.org", None),
        ("https://bücher.example/", None),
        ("ftp://example.com/file", "scheme 'ftp' is not http(s)"),
        ("https://", "no host"),
        ("http://example", "no top-level domain"),
        ("http://example.com:99999/", "unparseable"),
        ("http://-bad-.com/", "invalid host"),
        ("http://999.1.1.1/", "invalid IP address"),
        ("http://example.c0m/", "invalid top-level domain"),
    ],
)
def test_url_problem(url, problem):
    found = url_problem(url)
    assert (found is None) if problem is None else (problem in (found or "")), found


def test_allowed_domains_include_subdomains_only():
    assert host_allowed("docs.example.com", ["example.com"])
    assert host_allowed("example.com", ["example.com"])
    assert not host_allowed("badexample.com", ["example.com"])
    assert not host_allowed("example.com.evil.io", ["example.com"])


def test_contains_link():
    score = one(
        ContainsLink(name="l"), subject("Docs: https://docs.example.com/x and www.example.org.")
    )
    assert (
        score.passed is True
        and score.explanation == "2 link(s) to docs.example.com, www.example.org"
    )
    assert one(ContainsLink(name="l"), subject("no links, just example.com")).passed is False


def test_valid_links_syntax_and_allow_list():
    text = subject("Read https://docs.example.com/a and https://evil.example.net/b.")
    assert one(ValidLinks(name="v"), text).passed is True
    allow = one(ValidLinks(name="v", allowed_domains=["example.com"]), text)
    assert allow.passed is False and allow.value == 0.5
    assert "host evil.example.net not in allowed_domains" in allow.explanation
    assert allow.failure_category == "hallucination"
    typo = one(ValidLinks(name="v"), subject("See htps://example.com now"))
    assert typo.passed is False and typo.failure_category == "format_break"
    none = one(ValidLinks(name="v"), subject("No links here."))
    assert (none.passed, none.value) == (True, 1.0)


class _Handler(BaseHTTPRequestHandler):
    def _answer(self, with_body: bool) -> None:
        if self.path.startswith("/ok"):
            status = 200
        elif self.path.startswith("/head-refused") and self.command == "HEAD":
            status = 405
        elif self.path.startswith("/head-refused"):
            status = 200
        elif self.path.startswith("/login"):
            status = 403
        elif self.path.startswith("/redirect"):
            self.server.seen.append((self.command, self.path))
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        else:
            status = 404
        self.server.seen.append((self.command, self.path))
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        if with_body:
            self.wfile.write(b"ok")

    def do_HEAD(self):  # noqa: N802 (http.server's naming)
        self._answer(False)

    def do_GET(self):  # noqa: N802
        self._answer(True)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_base():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen
    finally:
        server.shutdown()
        server.server_close()


def test_valid_links_reachability_against_a_local_server(http_base):
    base, seen = http_base
    evaluator = ValidLinks(name="v", check_reachable=True, allow_private_hosts=True, timeout_s=2)
    good = one(evaluator, subject(f"See {base}/ok, {base}/head-refused and {base}/login."))
    assert good.passed is True, good.explanation
    assert ("HEAD", "/head-refused") in seen and ("GET", "/head-refused") in seen
    bad = one(evaluator, subject(f"See {base}/ok and {base}/missing-page"))
    assert bad.passed is False and bad.value == 0.5
    assert "HTTP 404" in bad.explanation and bad.failure_category == "hallucination"
    requests_before = len(seen)
    one(evaluator, subject(f"Again {base}/ok"))
    assert len(seen) == requests_before  # cached per instance


def test_valid_links_unreachable_host_and_no_network_by_default(http_base):
    base, seen = http_base
    dead = one(
        ValidLinks(name="v", check_reachable=True, allow_private_hosts=True, timeout_s=1),
        subject("http://127.0.0.1:9/x"),
    )
    assert dead.passed is False and "unreachable" in dead.explanation
    one(ValidLinks(name="v"), subject(f"{base}/missing"))
    assert seen == []  # check_reachable defaults to false: no request at all


def test_valid_links_rejects_bad_params():
    with pytest.raises(ValueError, match="allowed_domains"):
        ValidLinks(name="v", allowed_domains=[])
    with pytest.raises(ValueError, match="timeout_s"):
        ValidLinks(name="v", timeout_s=0)


def test_valid_links_refuses_private_addresses_unless_allowed(http_base, monkeypatch):
    base, seen = http_base
    evaluator = ValidLinks(name="v", check_reachable=True, timeout_s=2)
    score = one(evaluator, subject(f"{base}/ok and http://169.254.169.254/latest/meta-data"))
    assert score.passed is False and score.value == 0.0
    assert "127.0.0.1 is a non-public address" in score.explanation
    assert "169.254.169.254 is a non-public address" in score.explanation
    assert seen == []
    # A public-looking host that redirects to a private one: the redirect is refused.
    monkeypatch.setattr(
        "assay.evaluators.text_links.private_address", lambda host: None if host == "localhost" else host
    )
    port = base.rsplit(":", 1)[1]
    redirected = one(evaluator, subject(f"http://localhost:{port}/redirect"))
    assert redirected.passed is False
    assert "not checked: 127.0.0.1 is a non-public address" in redirected.explanation
    assert ("HEAD", "/redirect") in seen and ("HEAD", "/ok") not in seen


def test_details_carry_the_structured_evidence():
    lang = one(Language(name="l", language="en"), subject(SENTENCES["fr"]))
    assert lang.details["detected"] == "fr" and lang.details["shares"]["fr"] > 0.5
    gib = one(NotGibberish(name="g"), subject(GIBBERISH[3]))
    assert gib.details["signals"]["repetition_health"] == 0.0
    assert gib.details["signals"]["vowel_health"] == 1.0
    emails = one(ContainsEmail(name="e"), subject("Mail ana@example.com now"))
    assert emails.details == {"spans": [[5, 20]]}
    links = one(ValidLinks(name="v"), subject("Go to ftp://example.com/x or https://example.com"))
    assert links.details == {
        "links": 2,
        "problems": [
            {"offset": 6, "url": "ftp://example.com/x", "problem": "scheme 'ftp' is not http(s)"}
        ],
    }
