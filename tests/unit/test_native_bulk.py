"""The bulk native reader only accepts what the per-line reader accepts, with the same values."""

import json
import math
import random
from datetime import date

import pytest
from assay.assets.day_ingest import validate_native

from assay.contracts.call import CALL_JSON_COLUMNS
from assay.formats import parse_line
from assay.formats.native_bulk import BulkNativeReader, _line_ends, line_chunks
from tests.unit.test_raw_calls_ingest import call

DAY = date(2025, 3, 10)
APP = "fallback"


def base_records() -> list[dict]:
    plain = call("c")
    full = plain | {
        "trace_id": "t1", "span_id": "s1", "parent_span_id": None, "environment": "staging",
        "prompt_id": "p", "prompt_version": "v3", "provider": "openai", "input_text": "Where?",
        "context": ["doc one", "doc two"], "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_calls": [{"name": "f", "arguments": {"order_id": "248201", "n": 1.5}}],
        "output_text": "Shipped ✓ 😀", "finish_reason": "stop", "status": "success",
        "error_type": None, "error_message": None, "ttft_ms": 120, "cost_source": "source",
        "user_id": "u1", "session_id": "s", "customer_id": "cu", "expected_output": "x",
        "feedback_score": -0.5, "feedback_comment": "meh", "metadata": {"b": 1, "a": [True, None]},
        "source_format": "assay_jsonl", "source_file": None, "source_offset": 7,
    }
    error = plain | {"status": "error", "error_type": "RateLimitError", "output_text": None}
    return [plain, full, error]


ODD_VALUES = [
    None, "", "12", 12, 12.5, -1, 0, True, [], {}, [1], ["a"], [{"a": 1}], 2**70, 10**19, 5.0,
    "2025-03-10T12:00:00", "2025-03-10 12:00:00", "2025-03-10T12:00:00+05:30",
    "2025-03-11T00:30:00+01:00", "2025-03-10T12:00:00.1234567Z", "2025-03-10T12:00:00.5Z",
    "2025-03-10T24:00:00Z", "2025-02-30T00:00:00Z", "2025-03-10", "20250310T120000Z",
    "2025-03-10T12:00:00z", 1741608000, 1741608000000, "success", "error", "ok",
    "é ✓ 😀", "nul\u0000here", [{"role": "user"}, "not a message"], ["doc", 3],
    'say "hi" to C:\\tmp\nthen\ttab </b>', "-5", "1e3", 1e-7, 2.5e300, -0.0, 100000.0,
]
RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1e400", "-0.0", "1E5", '"\\ud800"', '"\\ud83d\\ude00"',
              "12345678901234567890123", "-0", "12.0", "2.50", "1e2", '"a\\/b"', '"\\u0041BC"', '"\\u00e9"',
              "123456789012345678901234567890.5", "true", "false"]


def mutate(record: dict, rng: random.Random) -> str:
    """A JSON line: the record with one or two odd changes."""
    record = dict(record)
    raw_patch = None
    for _ in range(rng.choice((1, 1, 2))):
        key = rng.choice(sorted(record) + ["extra_key"])
        kind = rng.random()
        if kind < 0.15:
            record.pop(key, None)
        elif kind < 0.25:
            raw_patch = (key, rng.choice(RAW_TOKENS))
            record[key] = "@RAW@"
        else:
            record[key] = rng.choice(ODD_VALUES)
    line = json.dumps(record, ensure_ascii=rng.random() < 0.5)
    if raw_patch:
        line = line.replace('"@RAW@"', raw_patch[1], 1)
    if rng.random() < 0.05:  # a repeated key
        line = line[:-1] + ', "feature": "dup"}'
    if rng.random() < 0.05:  # a key spelled with an escape is the same key
        line = line.replace('"model":', '"mod\\u0065l":', 1)
    return line


def reference(line: str) -> dict | None:
    data, _raw, reason = parse_line(line.encode("utf-8", "surrogatepass"))
    if reason is not None:
        return None
    record, _reason = validate_native(data, day=DAY, default_app=APP)
    return None if record is None else record.model_dump()


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def decide(tmp_path, lines: list[str]):
    path = tmp_path / "calls.jsonl"
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass"))
    reader = BulkNativeReader(default_app=APP, day=DAY)
    try:
        (chunk,) = list(line_chunks(path))
        accepted, undecided = reader.decide(chunk.strings(), chunk.line_nos)
    finally:
        reader.close()
    return accepted.to_pylist(), set(undecided.tolist())


def test_plain_lines_are_decided_in_bulk(tmp_path):
    lines = [json.dumps(r | {"call_id": f"c{i}"}) for i, r in enumerate(base_records())]
    accepted, undecided = decide(tmp_path, lines)
    assert undecided == set()
    assert [row["call_id"] for row in accepted] == ["c0", "c1", "c2"]
    assert accepted[0]["environment"] == "production" and accepted[0]["status"] == "success"  # defaults
    assert accepted[0]["messages"] == '[{"role":"user","content":"Where is my order?"}]'


@pytest.mark.parametrize("seed", range(3))
def test_what_the_bulk_path_accepts_the_per_line_reader_accepts_with_the_same_values(tmp_path, seed):
    rng = random.Random(seed)
    lines = [mutate(rng.choice(base_records()), rng) for _ in range(1500)]
    accepted, undecided = decide(tmp_path, lines)
    assert len(accepted) + len(undecided) == len(lines)
    assert len(accepted) > len(lines) // 5, "the bulk path should still decide the plain share"
    for row in accepted:
        line = lines[row["line_no"] - 1]
        expected = reference(line)
        assert expected is not None, f"bulk accepted what the per-line reader rejects: {line}"
        for name, value in row.items():
            if name == "line_no":
                continue
            want = expected[name]
            got = json.loads(value) if name in CALL_JSON_COLUMNS and value is not None else value
            if name == "messages" and want == [] and got is None:
                got = []
            assert same(got, want), f"{name}: bulk {got!r} != per-line {want!r} for {line}"


def test_lines_the_bulk_path_leaves_include_every_rejection(tmp_path):
    good = json.dumps(base_records()[0])
    lines = [
        good.replace('"app": "shop"', '"app": null'),  # explicit null: pydantic rejects
        good.replace('"ts": "2025-03-10T12:00:00Z"', '"ts": "2025-03-11T12:00:00Z"'),  # another day
        good[:-5],  # truncated
        good.replace('"latency_ms": 812.5', '"latency_ms": NaN'),
        good.replace('"input_tokens": 12', '"input_tokens": -3'),
        good.replace('"model": "sim/support-v1"', '"model": ""'),
        good.replace('"shop"', '"\\ud800"'),
        "[1, 2]",
        '[{"call_id": "c"}]',
        '"a string"',
        "123",
        "null",
        "{}",
        "",
    ]
    accepted, undecided = decide(tmp_path, lines)
    assert accepted == []
    assert undecided == set(range(1, len(lines) + 1))


@pytest.mark.parametrize("ending", [b"", b"\n"])
@pytest.mark.parametrize("chunk_bytes", [1, 4, 8, 9, 41, 1 << 20])
def test_line_chunks_cut_only_between_lines(tmp_path, chunk_bytes, ending):
    path = tmp_path / "f.jsonl"
    lines = [b"a" * n for n in (3, 0, 40, 1, 7)] + [b"last-line"]
    path.write_bytes(b"\n".join(lines) + ending)
    got = []
    for chunk in line_chunks(path, chunk_bytes=chunk_bytes):  # lines longer than a block included
        assert chunk.line_nos[0] == len(got) + 1
        got.extend(chunk.line(i).rstrip(b"\n") for i in range(len(chunk)))
    assert got == lines


def test_read_buffers_are_reused_only_once_nothing_refers_to_them(tmp_path):
    path = tmp_path / "f.jsonl"
    lines = [(b"%05d" % i) * (1 + i % 7) for i in range(400)]
    path.write_bytes(b"\n".join(lines) + b"\n")

    kept = [(chunk, chunk.strings()) for chunk in line_chunks(path, chunk_bytes=64)]
    assert len(kept) > 20
    seen = [line for chunk, _ in kept for line in (chunk.line(i).rstrip(b"\n") for i in range(len(chunk)))]
    assert seen == lines, "a chunk still held was overwritten by a later read"
    assert [s.rstrip("\n") for _, strings in kept for s in strings.to_pylist()] == [x.decode() for x in lines]

    buffers = set()
    for chunk in line_chunks(path, chunk_bytes=64):  # each dropped before the one after next
        buffers.add(id(chunk.data))
    assert len(buffers) <= 3


@pytest.mark.parametrize("line_bytes", [1, 40, 511, 513, 2000])
def test_line_ends_are_found_for_short_and_long_lines(line_bytes):
    data = b"".join(bytes([65 + i % 26]) * (line_bytes - 1) + b"\n" for i in range(3000)) + b"tail"
    ends = _line_ends(data + b"\n" * 50, len(data))  # bytes past `size` are not looked at
    assert ends.tolist() == [line_bytes * (i + 1) for i in range(3000)]


def test_a_line_that_is_not_utf8_is_left_to_the_per_line_reader(tmp_path):
    path = tmp_path / "f.jsonl"
    good = json.dumps(base_records()[0]).encode()
    path.write_bytes(good + b"\n" + good.replace(b"shop", b"sh\xffp") + b"\n")
    (chunk,) = list(line_chunks(path))
    reader = BulkNativeReader(default_app=APP, day=DAY)
    accepted, undecided = reader.decide(chunk.strings(), chunk.line_nos)
    reader.close()
    assert accepted.num_rows == 1 and undecided.tolist() == [2]
