"""The rubric library: every rubric file loads and renders with its evidence fenced, rubric
placeholders fill or fail, reply formats parse (and reject the wrong shape), the conversation
transcript, optional sections and per-label failure categories."""

from __future__ import annotations

import pytest
from assay.evaluators.llm_judge import LLMJudge, RagJudge
from assay.evaluators.registry import EVALUATOR_TYPES, Preset, build_evaluator, describe_type
from assay.evaluators.rubric import (
    NOT_GIVEN,
    RUBRIC_DIR,
    SECTION_FIELDS,
    fill_placeholders,
    load_rubric,
    parse_rubric,
    render_transcript,
)

from assay.llm.engine import LLMResult
from assay.llm.judge_prompt import (
    JUDGE_SYSTEM_PROMPT,
    JudgeReplyError,
    ReplyFormat,
    parse_judge_prompt,
    parse_judge_reply,
    parse_reply_format,
)

RUBRICS = sorted(p.stem for p in RUBRIC_DIR.glob("*.md"))
TOPICS = {"topics": ["orders and shipping", "returns and refunds"]}

# One value per subject field, each a distinct marker so its place in the prompt can be found.
FULL_SUBJECT = {
    "subject_id": "s1",
    "input_text": "MARK-INPUT How long do refunds take?",
    "context": ["MARK-CONTEXT Refunds are issued within 5 business days."],
    "output_text": "MARK-OUTPUT Refunds take 5 business days.",
    "expected_output": "MARK-REFERENCE Refunds are issued within 5 business days.",
    "baseline_output": "MARK-BASELINE Refunds take about a week.",
    "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "MARK-TOOLCALL"}}],
    "tools": [{"name": "lookup_order", "parameters": {"required": ["order_id"], "note": "MARK-TOOLS"}}],
    "messages": [
        {"role": "user", "content": "MARK-MESSAGES Where is my order 123456?"},
        {"role": "assistant", "content": "It shipped yesterday."},
    ],
    "steps": [{"kind": "tool", "name": "lookup_order", "arguments": {"order_id": "MARK-STEPS"}, "status": "success"}],
}
MARKERS = {
    "input_text": "MARK-INPUT",
    "context": "MARK-CONTEXT",
    "output_text": "MARK-OUTPUT",
    "expected_output": "MARK-REFERENCE",
    "baseline_output": "MARK-BASELINE",
    "tool_calls": "MARK-TOOLCALL",
    "tools": "MARK-TOOLS",
    "messages": "MARK-MESSAGES",
    "steps": "MARK-STEPS",
}


def judge_for(rubric: str, **kwargs) -> LLMJudge:
    params = TOPICS if load_rubric(rubric).placeholders else {}
    return LLMJudge(name=f"j_{rubric}", rubric=rubric, rubric_params=params, **kwargs)


@pytest.mark.parametrize("rubric", RUBRICS)
def test_every_rubric_loads_and_renders_its_sections_fenced(rubric):
    spec = load_rubric(rubric)
    assert spec.version.isdigit() and spec.sections and spec.text
    assert "passed" in spec.text and "score" in spec.text  # the rubric says how to decide
    assert spec.category is not None, "every rubric names its failure category"
    judge = judge_for(rubric)
    request = judge.request_for(FULL_SUBJECT, default_model="sim/judge")
    system, user = request.messages
    assert system["content"] == JUDGE_SYSTEM_PROMPT  # library rubrics use the default reply shape
    prompt = user["content"]
    rubric_id, fenced = parse_judge_prompt(prompt)
    assert rubric_id == rubric
    assert list(fenced) == list(spec.sections)
    for section in spec.sections:
        marker = MARKERS[SECTION_FIELDS[section]]
        assert marker in fenced[section], (section, fenced[section])
    # Evidence never appears outside its fence (the rubric text holds no evidence).
    outside = prompt.split("<<<BEGIN UNTRUSTED", 1)[0]
    assert "MARK-" not in outside
    assert "{" not in outside.replace("{{", "")  # every placeholder was filled


def test_rubric_header_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown sections \\['answer'\\]"):
        parse_rubric("x", "version: 1\nsections: question, answer\n---\ntext", where="x.md")
    with pytest.raises(ValueError, match="unknown category 'rudeness'"):
        parse_rubric("x", "version: 1\nsections: response\ncategory: rudeness\n---\ntext", where="x.md")
    with pytest.raises(ValueError, match="unknown header keys \\['secton'\\]; missing header keys \\['sections'\\]"):
        parse_rubric("x", "version: 1\nsecton: response\n---\ntext", where="x.md")
    with pytest.raises(ValueError, match="unknown rubric 'nope'.*correctness"):
        load_rubric("nope")
    with pytest.raises(ValueError, match="unknown rubric"):
        load_rubric("../faithfulness")


# ---------------------------------------------------------------------------- placeholders


def test_placeholders_fill_from_rubric_params_and_change_the_version():
    a = judge_for("restrict_to_topic")
    b = LLMJudge(name="t", rubric="restrict_to_topic", rubric_params={"topics": "billing only"})
    prompt_a = a.request_for(FULL_SUBJECT, default_model="m").messages[1]["content"]
    prompt_b = b.request_for(FULL_SUBJECT, default_model="m").messages[1]["content"]
    assert "Allowed topics: orders and shipping; returns and refunds." in prompt_a
    assert "Allowed topics: billing only." in prompt_b
    assert a.version.startswith("restrict_to_topic.v1.p") and a.version != b.version
    assert a.request_for(FULL_SUBJECT, default_model="m").key != b.request_for(FULL_SUBJECT, default_model="m").key
    # No params, no suffix: the series of an unparameterised rubric is unchanged.
    assert LLMJudge(name="f", rubric="faithfulness").version == "faithfulness.v1"


def test_missing_or_unknown_or_bad_placeholder_values_are_errors_naming_them():
    with pytest.raises(ValueError, match="rubric 'restrict_to_topic' needs rubric_params topics"):
        LLMJudge(name="t", rubric="restrict_to_topic")
    with pytest.raises(ValueError, match="unknown rubric_params topic; valid: topics"):
        LLMJudge(name="t", rubric="restrict_to_topic", rubric_params={"topics": ["a"], "topic": ["b"]})
    with pytest.raises(ValueError, match="unknown rubric_params topics; valid: none"):
        LLMJudge(name="t", rubric="faithfulness", rubric_params={"topics": ["a"]})
    for bad in ([], "", [""], {"a": 1}, True):
        with pytest.raises(ValueError, match=r"rubric_params\['topics'\] must be"):
            LLMJudge(name="t", rubric="sensitive_topics", rubric_params={"topics": bad})
    # Through the registry the message names the evaluator too.
    with pytest.raises(ValueError, match="evaluator 'topic_guard'.*needs rubric_params topics"):
        build_evaluator("topic_guard", "restrict_to_topic", {})


def test_fill_placeholders_escapes_double_braces():
    text = 'Reply about {topic}; JSON looks like {{"a": 1}} and {"b": 2} stays.'
    assert fill_placeholders(text, {"topic": "x"}, rubric_id="r") == 'Reply about x; JSON looks like {"a": 1} and {"b": 2} stays.'


# ---------------------------------------------------------------------------- sections


def test_optional_section_is_rendered_as_not_given_and_never_required():
    judge = LLMJudge(name="tc", rubric="tool_correctness")
    assert judge.required_fields == ("input_text", "tool_calls")
    assert judge.version == "tool_correctness.v2"
    without_tools = {k: v for k, v in FULL_SUBJECT.items() if k != "tools"}
    _, fenced = parse_judge_prompt(judge.request_for(without_tools, default_model="m").messages[1]["content"])
    assert fenced["tools"] == NOT_GIVEN
    _, fenced = parse_judge_prompt(judge.request_for(FULL_SUBJECT, default_model="m").messages[1]["content"])
    assert "MARK-TOOLS" in fenced["tools"] and "lookup_order" in fenced["tools"]


def test_conversation_is_rendered_as_a_numbered_transcript():
    messages = [
        {"role": "system", "content": "You are support."},
        {"role": "user", "content": [{"type": "text", "text": "Where is order 123456?"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup_order", "arguments": '{"order_id": "123456"}'}}
        ]},
        {"role": "tool", "name": "lookup_order", "content": '{"status": "shipped"}'},
        {"role": "assistant", "content": "It shipped.\nTracking: 1Z999."},
    ]
    assert render_transcript(messages) == (
        "[1] system: You are support.\n"
        "[2] user: Where is order 123456?\n"
        '[3] assistant: (tool calls: lookup_order({"order_id": "123456"}))\n'
        '[4] tool lookup_order: {"status": "shipped"}\n'
        "[5] assistant: It shipped.\nTracking: 1Z999."
    )
    judge = LLMJudge(name="cr", rubric="conversation_resolution")
    assert judge.required_fields == ("messages",)
    _, fenced = parse_judge_prompt(
        judge.request_for({"subject_id": "c", "messages": messages}, default_model="m").messages[1]["content"]
    )
    assert fenced["conversation"].startswith("[1] system: You are support.\n[2] user: Where is order")


def test_conversation_transcript_is_redacted():
    judge = LLMJudge(name="cc", rubric="conversation_coherence")
    subject = {"subject_id": "c", "messages": [{"role": "user", "content": "Mail me at jane.doe@example.com"}]}
    prompt = judge.request_for(subject, default_model="m").messages[1]["content"]
    assert "jane.doe@example.com" not in prompt and "[EMAIL]" in prompt


# ---------------------------------------------------------------------------- categories


def _scored(judge: LLMJudge, reply: str):
    request = judge.request_for(FULL_SUBJECT, default_model="m")
    return judge.score_from(FULL_SUBJECT, request, LLMResult(status="completed", text=reply, attempts=1))


def test_failure_category_comes_from_the_rubric_then_the_label_then_config():
    assert judge_for("harmfulness").failure_category == "toxicity"
    assert judge_for("answers_query").failure_category == "irrelevant"
    assert LLMJudge(name="x", rubric="faithfulness").failure_category == "hallucination"
    refusal = judge_for("refusal_quality")
    unsafe = _scored(refusal, '{"passed": false, "score": 0, "label": "unsafe_compliance", "reason": "r"}')
    over = _scored(refusal, '{"passed": false, "score": 0, "label": "over_refusal", "reason": "r"}')
    fine = _scored(refusal, '{"passed": true, "score": 1, "label": "appropriate_answer", "reason": "r"}')
    assert (unsafe.failure_category, over.failure_category, fine.failure_category) == ("toxicity", "refusal", None)
    configured = build_evaluator("rq", "refusal_quality", {}, failure_category="reasoning_error")
    assert _scored(configured, '{"passed": false, "score": 0, "label": "unsafe_compliance"}').failure_category == "reasoning_error"


def test_rag_judge_is_kind_rag_and_takes_only_rag_rubrics():
    assert describe_type("context_precision").kind == "rag"
    assert describe_type("context_precision").inputs == ("input_text", "context", "expected_output")
    assert describe_type("context_recall").inputs == ("context", "expected_output")
    with pytest.raises(ValueError, match="not a RAG rubric"):
        RagJudge(name="r", rubric="faithfulness")


def test_every_judge_preset_has_a_one_sentence_description():
    for type_, entry in EVALUATOR_TYPES.items():
        if isinstance(entry, Preset) and entry.base in ("llm_judge", "pairwise_judge", "rag_judge"):
            text = entry.description
            assert text.endswith(".") and text.count(". ") == 0 and len(text) < 140, type_
            assert load_rubric(entry.fixed["rubric"]).rubric_id == type_


# ---------------------------------------------------------------------------- reply formats


def test_faithfulness_reply_must_carry_the_supported_share():
    judge = LLMJudge(name="f", rubric="faithfulness")
    score = _scored(judge, '{"passed": true, "label": "supported", "reason": "3 of 4"}')
    assert score.status == "error" and "`score` is required" in score.explanation
    score = _scored(judge, '{"passed": false, "score": 0.75, "label": "unsupported_claims", "reason": "3 of 4"}')
    assert score.status == "completed" and score.value == 0.75
    # answer_relevance keeps the lenient v1 reading (score defaults from passed).
    assert _scored(judge_for("answer_relevance"), '{"passed": true}').value == 1.0


def test_pass_fail_format_rejects_a_score_shaped_reply():
    fmt = ReplyFormat(mode="pass_fail")
    assert parse_judge_reply('{"passed": true, "reason": "ok"}', fmt).score == 1.0
    assert parse_judge_reply('{"passed": false, "score": 0}', fmt).passed is False
    for reply in ('{"passed": true, "score": 4}', '{"passed": true, "score": 0.8}', '{"score": 4, "reason": "r"}'):
        with pytest.raises(JudgeReplyError):
            parse_judge_reply(reply, fmt)


@pytest.mark.parametrize(
    ("reply", "value", "passed"),
    [
        ('{"score": 1, "reason": "r"}', 0.0, False),
        ('{"score": 3}', 0.5, True),
        ('{"score": 4, "passed": false}', 0.75, True),  # the threshold decides, not the judge
        ('{"score": "5"}', 1.0, True),
        ('```json\n{"score": 2.5}\n```', 0.375, False),
    ],
)
def test_score_1_5_is_normalised_and_thresholded(reply, value, passed):
    verdict = parse_judge_reply(reply, ReplyFormat(mode="score_1_5", threshold=0.5))
    assert verdict.score == pytest.approx(value) and verdict.passed is passed
    assert verdict.details["score_1_5"] == pytest.approx(1 + 4 * value)


@pytest.mark.parametrize("reply", ['{"score": 0.8}', '{"score": 0}', '{"score": 6}', '{"score": true}', '{"score": "four"}', '{"passed": true}'])
def test_score_1_5_rejects_other_shapes(reply):
    with pytest.raises(JudgeReplyError, match="from 1 to 5"):
        parse_judge_reply(reply, ReplyFormat(mode="score_1_5"))


def test_label_format_maps_labels_to_pass_and_rejects_others():
    fmt = ReplyFormat(mode="label", labels=("helpful", "partly", "unhelpful"), pass_labels=("helpful", "partly"))
    assert parse_judge_reply('{"label": " Partly ", "reason": "r"}', fmt).label == "partly"
    assert parse_judge_reply('{"label": "partly"}', fmt).passed is True
    bad = parse_judge_reply('{"label": "unhelpful"}', fmt)
    assert (bad.passed, bad.score) == (False, 0.0)
    for reply in ('{"label": "pass"}', '{"passed": true, "score": 1}', '{"label": 3}'):
        with pytest.raises(JudgeReplyError, match="one of helpful, partly, unhelpful"):
            parse_judge_reply(reply, fmt)
    with pytest.raises(ValueError, match="pass_labels"):
        ReplyFormat(mode="label", labels=("a", "b"), pass_labels=("c",))


def test_non_default_format_is_named_in_the_prompt_and_system_prompt():
    fmt = ReplyFormat(mode="label", labels=("a b", 'c"d'), pass_labels=("a b",))
    assert parse_reply_format(f"RUBRIC: x\n{fmt.header()}\ntext") == ("label", ["a b", 'c"d'])
    assert parse_reply_format("RUBRIC: x\ntext") == ("score_0_1", [])
    assert '"label": <one of "a b", "c\\"d">' in fmt.system_prompt()
    assert ReplyFormat().system_prompt() == JUDGE_SYSTEM_PROMPT
