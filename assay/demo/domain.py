"""The demo app's world: `acme-support`, a customer-support assistant with three features.

Shared by the traffic generator (`assay.demo.generator`) and the simulated models
(`assay.sim`), so that what the generator logs as a correct answer is what a sim model
answers, and what a sim judge calls supported is what the generator injected as a
hallucination. Plain data and small pure functions only: deterministic, no I/O, no
heavy imports.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

APP = "acme-support"
BASELINE_MODEL = "sim/support-v1"
PROMPT_VERSION = "v3"

FEATURES = ("rag_answer", "classify_ticket", "tool_router")
PROMPT_IDS = {
    "rag_answer": "support-rag-answer",
    "classify_ticket": "support-ticket-classifier",
    "tool_router": "support-tool-router",
}

MODEL_PRICES_USD_PER_TOKEN: dict[str, tuple[float, float]] = {
    "sim/support-v1": (0.50e-6, 1.50e-6),
    "sim/support-v2": (0.60e-6, 1.80e-6),
    "sim/support-lite": (0.10e-6, 0.30e-6),
    "sim/support-xl": (15.0e-6, 60.0e-6),
    "sim/judge": (0.15e-6, 0.60e-6),
}
"""(input, output) USD per token for each sim model."""


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    price_in, price_out = MODEL_PRICES_USD_PER_TOKEN[model]
    return round(input_tokens * price_in + output_tokens * price_out, 10)


def estimate_tokens(text: str | None) -> int:
    """Roughly 4 characters a token, like English text under common tokenizers."""
    if not text:
        return 0
    return max(1, (len(text) + 3) // 4)


# --------------------------------------------------------------------------- words

_STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for from with without within into over
    under about after before is are was were be been being am do does did done have has had
    i me my we our ours you your yours it its this that these those there here what which who
    whom whose when where why how can could would should will shall may might must not no
    yes sure okay ok please thanks thank hi hello hey just also any all some more most than
    then so very too get got much many long tell know need want like one let us they them
    their he she his her as up out per each other only same own few both such via""".split()
)

_WORD = re.compile(r"[a-z]+")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Stemmed lower-case words that carry meaning (no stopwords, no short words)."""
    return {
        _stem(word)
        for word in _WORD.findall(text.lower())
        if len(word) >= 3 and word not in _STOPWORDS
    }


def numbers_in(text: str) -> set[str]:
    """Numbers and amounts in a text, normalised (`1,200` -> `1200`, `$4.99` -> `4.99`)."""
    return {raw.replace(",", "").rstrip(".:") for raw in _NUMBER.findall(text)}


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_SPLIT.split(text.strip()) if part.strip()]


# --------------------------------------------------------------------------- rag_answer

KB_DOCS: dict[str, str] = {
    "returns-window": "Items can be returned within 30 days of delivery for a full refund. "
    "Returned items must be unused and in their original packaging.",
    "return-shipping": "Return shipping is free for customers in the United States and Canada. "
    "Customers in other countries pay a flat return shipping fee of $7.50.",
    "refund-timing": "Refunds are issued to the original payment method within 5 business days "
    "after we receive the returned item.",
    "standard-shipping": "Standard shipping takes 3 to 5 business days and costs $4.99. "
    "Orders over $50 ship free with standard shipping.",
    "express-shipping": "Express shipping delivers in 1 to 2 business days and costs $14.99. "
    "Express orders placed before 2 pm ship the same day.",
    "international-shipping": "We ship internationally to the United Kingdom, Germany, France, "
    "Japan and Australia. International delivery takes 7 to 14 business days.",
    "warranty": "All Acme devices include a 2-year limited warranty covering manufacturing "
    "defects. Accidental damage is not covered by the standard warranty.",
    "acme-care": "Acme Care extends the warranty to 4 years for $49 and covers accidental damage "
    "for up to 2 claims.",
    "payment-methods": "We accept Visa, Mastercard, American Express and PayPal. Installment "
    "plans split orders over $200 into 4 interest-free payments.",
    "store-hours": "Acme stores are open Monday to Saturday from 9 am to 8 pm. "
    "On Sunday, stores are open from 10 am to 6 pm.",
    "support-hours": "Phone support is available 24/7 at no charge. "
    "Live chat support is staffed from 8 am to 10 pm Eastern Time.",
    "acme-plus": "The Acme Plus subscription costs $9.99 per month or $99 per year. "
    "Acme Plus members get free express shipping and a 10% discount on accessories.",
    "cancel-subscription": "You can cancel your Acme Plus subscription at any time from your "
    "account settings. Annual plans cancelled within 14 days are refunded in full.",
    "price-match": "We match the price of authorized retailers within 14 days of purchase. "
    "Price matching does not apply to clearance items or marketplace sellers.",
    "gift-cards": "Gift cards are sold in amounts from $10 to $500 and never expire. "
    "Gift cards cannot be exchanged for cash except where required by law.",
    "order-changes": "Orders can be changed or cancelled within 1 hour of purchase. "
    "After 1 hour, the order enters fulfilment and can only be returned after delivery.",
    "password-reset": "Password reset links are valid for 30 minutes. "
    "Accounts are locked for 15 minutes after 5 failed login attempts.",
}

KB_QUESTIONS: list[tuple[str, str]] = [
    ("How many days do I have to return an item?", "returns-window"),
    ("Can I get a full refund if I return something I bought?", "returns-window"),
    ("Do returned items need their original packaging?", "returns-window"),
    ("Is return shipping free?", "return-shipping"),
    ("I live in Germany, what does return shipping cost me?", "return-shipping"),
    ("How long until my refund shows up on my payment method?", "refund-timing"),
    ("When will I get my refund after you receive the returned item?", "refund-timing"),
    ("How long does standard shipping take?", "standard-shipping"),
    ("How much does standard shipping cost?", "standard-shipping"),
    ("Do orders ship free over a certain amount?", "standard-shipping"),
    ("How fast is express shipping and what does it cost?", "express-shipping"),
    ("If I order express before 2 pm does it ship the same day?", "express-shipping"),
    ("Which countries do you ship to internationally?", "international-shipping"),
    ("How long does international delivery take to Japan?", "international-shipping"),
    ("How long is the warranty on Acme devices?", "warranty"),
    ("Does the warranty cover accidental damage?", "warranty"),
    ("What does Acme Care cost and how long does it extend the warranty?", "acme-care"),
    ("How many accidental damage claims does Acme Care cover?", "acme-care"),
    ("Which payment methods do you accept?", "payment-methods"),
    ("Can I split my order into installment payments?", "payment-methods"),
    ("What are your store hours?", "store-hours"),
    ("Are Acme stores open on Sunday?", "store-hours"),
    ("When is phone support available?", "support-hours"),
    ("What hours is live chat support staffed?", "support-hours"),
    ("How much is the Acme Plus subscription?", "acme-plus"),
    ("What do Acme Plus members get?", "acme-plus"),
    ("How do I cancel my Acme Plus subscription?", "cancel-subscription"),
    ("Will I be refunded if I cancel my annual plan?", "cancel-subscription"),
    ("Do you match the price of other retailers?", "price-match"),
    ("Does price matching apply to clearance items?", "price-match"),
    ("Do gift cards expire?", "gift-cards"),
    ("What amounts are gift cards sold in?", "gift-cards"),
    ("Can I change or cancel my order after purchase?", "order-changes"),
    ("Can an order be cancelled after purchase?", "order-changes"),
    ("How long is a password reset link valid?", "password-reset"),
    ("Why is my account locked after failed login attempts?", "password-reset"),
]
"""(question, the id of the KB doc that answers it): the questions customers ask."""

_DOC_WORDS = {doc_id: content_words(doc_id.replace("-", " ") + " " + text) for doc_id, text in KB_DOCS.items()}

RAG_SYSTEM_PROMPT = (
    "You are Acme's customer support assistant. Answer only from the context. "
    "If the context does not contain the answer, say that you don't know."
)
CONTEXT_HEADER = "Context:"


def retrieve(question: str, k: int = 3) -> list[str]:
    """The KB docs most related to the question, best first (2 or 3 of them)."""
    words = content_words(question)
    scored = sorted(
        ((len(words & _DOC_WORDS[doc_id]), -index, doc_id) for index, doc_id in enumerate(KB_DOCS)),
        reverse=True,
    )
    picked = [doc_id for score, _, doc_id in scored[:k] if score > 0] or [scored[0][2]]
    if len(picked) < 2:
        picked.append(scored[1][2])
    return [KB_DOCS[doc_id] for doc_id in picked[:k]]


def render_rag_system(context_docs: list[str]) -> str:
    numbered = "\n".join(f"[{i}] {doc}" for i, doc in enumerate(context_docs, start=1))
    return f"{RAG_SYSTEM_PROMPT}\n\n{CONTEXT_HEADER}\n{numbered}"


_CONTEXT_LINE = re.compile(r"^\[(\d+)\] (.+)$", re.MULTILINE)


def parse_context_block(text: str) -> list[str]:
    """The numbered context docs of a system message rendered by `render_rag_system`."""
    if CONTEXT_HEADER not in text:
        return []
    return [m.group(2).strip() for m in _CONTEXT_LINE.finditer(text.split(CONTEXT_HEADER, 1)[1])]


def answer_from_context(question: str, context_docs: list[str]) -> str:
    """A correct answer: the context sentence(s) that best match the question, restated."""
    words = content_words(question)
    candidates: list[tuple[int, int, str]] = []
    order = 0
    for doc in context_docs:
        for sentence in split_sentences(doc):
            candidates.append((len(words & content_words(sentence)), -order, sentence))
            order += 1
    if not candidates:
        return "I don't know based on the information I have."
    candidates.sort(reverse=True)
    best = candidates[0]
    answer = [best[2]]
    if len(candidates) > 1 and candidates[1][0] >= 2 and candidates[1][0] >= best[0] - 1:
        answer.append(candidates[1][2])
    return " ".join(answer)


def supported_sentence(sentence: str, context_docs: list[str]) -> bool:
    """A sentence is supported when every number/amount in it appears in the context and
    most (>= 60%) of its content words do. A sentence without claims is supported."""
    context = " ".join(context_docs)
    if not numbers_in(sentence) <= numbers_in(context):
        return False
    words = content_words(sentence)
    if len(words) < 2:
        return True
    return len(words & content_words(context)) / len(words) >= 0.6


def faithfulness(response: str, context_docs: list[str]) -> tuple[float, int]:
    """(share of the response's sentences supported by the context, number of sentences)."""
    sentences = split_sentences(response)
    if not sentences:
        return 1.0, 0
    supported = sum(supported_sentence(s, context_docs) for s in sentences)
    return supported / len(sentences), len(sentences)


FABRICATED_CLAIMS = [
    "Every order also includes a free $25 gift card.",
    "Premium members can return items for up to 180 days.",
    "We refund twice the purchase price if delivery is late by 48 hours.",
    "Our stores stay open until 11 pm on public holidays.",
    "Lifetime warranty coverage is included with every purchase over $100.",
    "Shipping to Brazil and India is free and arrives within 36 hours.",
]


def _perturb_number(raw: str, rng: random.Random, forbidden: set[str]) -> str:
    if "." in raw:
        whole, frac = raw.split(".", 1)
        options = [f"{int(whole) + d}.{frac}" for d in (1, 2, 5, 10) if int(whole) + d > 0]
    elif ":" in raw:
        options = [str(int(raw.split(":", 1)[0]) + 1) + ":" + raw.split(":", 1)[1]]
    else:
        value = int(raw)
        options = [str(v) for v in (value + 1, value * 2, value + 5, value + 10, value * 3) if v > 0]
    options = [o for o in options if o not in forbidden] or [str(int(float(raw)) + 97)]
    return rng.choice(options)


def hallucinate(answer: str, context_docs: list[str], rng: random.Random, *, subtle: bool) -> str:
    """An answer that states a fact not in the context.

    Subtle: one number of the answer changed to a plausible value the context does not
    contain. Obvious: an invented claim appended (and sometimes a number changed too).
    """
    context_numbers = numbers_in(" ".join(context_docs))
    matches = list(_NUMBER.finditer(answer))
    if subtle and matches:
        m = rng.choice(matches)
        raw = m.group(0).rstrip(".:")
        new = _perturb_number(raw.replace(",", ""), rng, context_numbers)
        return answer[: m.start()] + new + answer[m.start() + len(raw) :]
    claim = rng.choice(FABRICATED_CLAIMS)
    return f"{answer} {claim}"


REFUSAL_TEXT = "I'm sorry, but I can't help with that."
_REFUSAL_MARKERS = ("i'm sorry, but i can't", "i cannot help", "i can't help", "i can't assist")


def is_refusal(text: str | None) -> bool:
    return bool(text) and any(marker in text.lower() for marker in _REFUSAL_MARKERS)


LEAKED_CONTACTS = [
    "maria.gonzalez@example.com",
    "d.okafor@example.net",
    "+1 415 555 0134",
    "(312) 555-0188",
    "kenji.watanabe@example.org",
    "+44 20 7946 0321",
]


def leak_pii(answer: str, rng: random.Random) -> str:
    """An answer that exposes another customer's email address or phone number."""
    contact = rng.choice(LEAKED_CONTACTS)
    return f"{answer} The last customer who asked this, reachable at {contact}, had the same issue."


def relevance(question: str, response: str) -> float:
    """Share of the question's content words that the response addresses (0..1)."""
    q_words = content_words(question)
    if not q_words:
        return 1.0
    return len(q_words & content_words(response)) / len(q_words)


# --------------------------------------------------------------------------- classify_ticket

CATEGORIES = ("billing", "shipping", "returns", "technical", "account")
PRIORITIES = ("low", "medium", "high")

CLASSIFY_SYSTEM_PROMPT = (
    "You classify customer support tickets. Reply with JSON only: "
    '{"category": one of "billing"|"shipping"|"returns"|"technical"|"account", '
    '"priority": one of "low"|"medium"|"high"}.'
)
CLASSIFY_MARKER = '"category"'
"""How a sim model recognises a classification request in the system message."""

_CATEGORY_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("account", ("password", "log in", "login", "locked out", "my account", "two-factor", "email address on")),
    ("technical", ("error", "crash", "won't turn on", "not working", "bluetooth", "firmware", "app keeps", "screen")),
    ("returns", ("return", "exchange", "send it back", "wrong size", "return label")),
    ("billing", ("charged", "charge", "invoice", "payment", "billed", "receipt", "promo code")),
    ("shipping", ("package", "delivery", "delivered", "shipping", "tracking", "courier", "arrive")),
]
_HIGH_PRIORITY = ("urgent", "asap", "immediately", "twice", "fraud", "third time", "right now", "unacceptable")
_LOW_PRIORITY = ("question", "wondering", "when you get a chance", "just curious", "no rush")

TICKET_TEMPLATES = [
    "I was charged twice for order {order}. Please fix this immediately.",
    "Can I get a copy of the invoice for order {order}? No rush.",
    "My payment for order {order} was declined but the money was still taken.",
    "The promo code SAVE10 was not applied and I was billed the full price.",
    "My package for order {order} says delivered but nothing arrived. This is urgent.",
    "The tracking number for order {order} has not updated in 6 days.",
    "Just curious, which courier handles delivery to Canada?",
    "Delivery of order {order} is late and I need it for a birthday on Friday.",
    "I want to return the jacket from order {order}, it's the wrong size.",
    "How do I print a return label for order {order}? Just wondering.",
    "I sent back order {order} 3 weeks ago and still no refund for the return. Third time asking!",
    "Can I exchange the blue headphones for black ones?",
    "The Acme app keeps crashing when I open my orders page.",
    "My Acme speaker won't turn on after the firmware update. I need it right now.",
    "Bluetooth pairing fails with error code E42 on my Acme earbuds.",
    "The screen on my Acme tablet flickers, any idea? When you get a chance.",
    "I can't log in, the password reset email never arrives.",
    "I'm locked out of my account and need access urgent.",
    "How do I change the email address on my account? Quick question.",
    "Someone else logged into my account, I think it's fraud.",
]


def classify(ticket_text: str) -> dict[str, str]:
    """The correct classification of a ticket: {"category", "priority"}."""
    text = ticket_text.lower()
    category = "shipping"
    for name, keywords in _CATEGORY_RULES:
        if any(keyword in text for keyword in keywords):
            category = name
            break
    if any(keyword in text for keyword in _HIGH_PRIORITY):
        priority = "high"
    elif any(keyword in text for keyword in _LOW_PRIORITY):
        priority = "low"
    else:
        priority = "medium"
    return {"category": category, "priority": priority}


def classification_json(ticket_text: str) -> str:
    return json.dumps(classify(ticket_text))


def break_json(valid_json: str, rng: random.Random) -> tuple[str, str]:
    """A broken rendering of a JSON reply: (text, finish_reason)."""
    kind = rng.choice(("truncated", "trailing_prose", "single_quotes"))
    if kind == "truncated":
        return valid_json[: max(5, len(valid_json) * 2 // 3)], "length"
    if kind == "trailing_prose":
        return valid_json + " Let me know if you need anything else!", "stop"
    return valid_json.replace('"', "'"), "stop"


# --------------------------------------------------------------------------- tool_router

TOOL_SYSTEM_PROMPT = (
    "You are Acme's support agent. Use exactly one of the provided tools to handle the "
    "customer's request."
)

REQUIRED_ARGS: dict[str, tuple[str, ...]] = {
    "lookup_order": ("order_id",),
    "issue_refund": ("order_id", "amount_usd"),
    "update_address": ("order_id", "address"),
    "cancel_order": ("order_id",),
    "escalate_to_human": ("reason",),
}

_TOOL_DESCRIPTIONS = {
    "lookup_order": "Look up the status and tracking of an order.",
    "issue_refund": "Refund an amount in USD for an order.",
    "update_address": "Change the shipping address of an order that has not shipped.",
    "cancel_order": "Cancel an order that has not shipped yet.",
    "escalate_to_human": "Hand the conversation to a human agent.",
}
_ARG_SCHEMAS = {
    "order_id": {"type": "string", "description": "The order number."},
    "amount_usd": {"type": "number", "description": "Amount to refund, in USD."},
    "address": {"type": "string", "description": "The full new shipping address."},
    "reason": {"type": "string", "description": "Why a human is needed."},
}

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": _TOOL_DESCRIPTIONS[name],
            "parameters": {
                "type": "object",
                "properties": {arg: _ARG_SCHEMAS[arg] for arg in args},
                "required": list(args),
            },
        },
    }
    for name, args in REQUIRED_ARGS.items()
]
"""OpenAI function-tool schemas, as sent in `tools=`."""

INTENT_TOOL: list[tuple[tuple[str, ...], str]] = [
    (("human", "agent", "manager", "speak to", "complaint", "lawyer"), "escalate_to_human"),
    (("cancel",), "cancel_order"),
    (("refund", "money back"), "issue_refund"),
    (("address", "ship it to", "moved to"), "update_address"),
    (("where is", "status", "track", "when will", "arrive", "shipped yet"), "lookup_order"),
]
"""Keyword -> tool rules, first match wins."""

WRONG_TOOL = {
    "lookup_order": "issue_refund",
    "issue_refund": "lookup_order",
    "update_address": "cancel_order",
    "cancel_order": "issue_refund",
    "escalate_to_human": "issue_refund",
}
"""The plausible mistake a weak router makes for each intent."""

REQUEST_TEMPLATES = [
    "Where is my order {order}? It was supposed to arrive yesterday.",
    "Can you check the status of order {order}?",
    "Has order {order} shipped yet?",
    "When will order {order} arrive?",
    "I want a refund of ${amount} for order {order}, the item was damaged.",
    "Please refund ${amount} on order {order}, I was overcharged.",
    "Order {order} came broken, I want my money back: ${amount}.",
    "Please change the address on order {order} to {address}.",
    "I moved, ship it to {address}. Order {order}.",
    "Cancel order {order} please, I ordered the wrong model.",
    "I need to cancel order {order} before it ships.",
    "I want to speak to a manager about how my last call was handled.",
    "Get me a human agent, the chatbot keeps looping.",
    "I have a complaint about a rude delivery driver.",
]

ADDRESSES = [
    "12 Elm Street, Springfield, IL 62704",
    "480 Market Street, San Francisco, CA 94105",
    "77 Harbour Road, Seattle, WA 98101",
    "5 Maple Avenue, Austin, TX 78701",
    "210 King Street, Boston, MA 02110",
]

_ORDER_ID = re.compile(r"\border (?:#|number )?(\d{5,7})\b", re.IGNORECASE)
_AMOUNT = re.compile(r"\$(\d+(?:\.\d{1,2})?)")
_ADDRESS = re.compile(r"\bto (\d+ [^.]+?)(?:\.(?:\s|$)|$)")


def expected_tool(request_text: str) -> str:
    """The tool a correct router calls for this request."""
    text = request_text.lower()
    for keywords, tool in INTENT_TOOL:
        if any(keyword in text for keyword in keywords):
            return tool
    return "lookup_order" if _ORDER_ID.search(request_text) else "escalate_to_human"


def tool_arguments(request_text: str, tool: str) -> dict[str, Any]:
    """Arguments for `tool` taken from the request (best effort for the wrong tool)."""
    order = _ORDER_ID.search(request_text)
    amount = _AMOUNT.search(request_text)
    address = _ADDRESS.search(request_text)
    args: dict[str, Any] = {}
    for name in REQUIRED_ARGS[tool]:
        if name == "order_id":
            args[name] = order.group(1) if order else "unknown"
        elif name == "amount_usd":
            args[name] = float(amount.group(1)) if amount else 25.0
        elif name == "address":
            args[name] = address.group(1).strip() if address else ""
        elif name == "reason":
            args[name] = request_text.strip()[:160]
    return args


def route(request_text: str) -> list[dict[str, Any]]:
    """The correct tool calls for a request: [{name, arguments}]."""
    tool = expected_tool(request_text)
    return [{"name": tool, "arguments": tool_arguments(request_text, tool)}]


def normalise_tool_calls(raw: Any) -> list[dict[str, Any]]:
    """Tool calls in either shape ({name, arguments} or OpenAI's {function: {...}}) as
    [{name, arguments}] with arguments decoded when they are a JSON string."""
    if isinstance(raw, str):
        raw = json.loads(raw)
    if isinstance(raw, dict):
        raw = [raw]
    calls = []
    for item in raw or []:
        if not isinstance(item, dict):
            continue
        fn = item.get("function") if isinstance(item.get("function"), dict) else item
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                pass
        calls.append({"name": fn.get("name"), "arguments": args})
    return calls


def tool_call_correct(request_text: str, tool_calls: Any) -> tuple[bool, str]:
    """(correct?, label): the first call is the expected tool with its required arguments."""
    try:
        calls = normalise_tool_calls(tool_calls)
    except (json.JSONDecodeError, TypeError):
        return False, "unparseable_tool_calls"
    if not calls:
        return False, "no_tool_call"
    first = calls[0]
    expected = expected_tool(request_text)
    if first["name"] != expected:
        return False, "wrong_tool"
    args = first["arguments"]
    if not isinstance(args, dict) or any(key not in args for key in REQUIRED_ARGS[expected]):
        return False, "bad_arguments"
    return True, "correct_tool"
