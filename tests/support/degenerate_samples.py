"""Outputs for the degenerate-output detector, written by the project: real answers in the
formats models produce (code, JSON, markdown tables, lists, prose, config, logs), and the
constant junk a broken candidate sends back for every prompt. Used by the unit tests and by
`bench/detectors.py` (`degenerate_junk_flagged`, `degenerate_false_flags`)."""

REAL_OUTPUTS: dict[str, str] = {
    "python": '''def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping [start, end) intervals."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
''',
    "python_bracket_matcher": '''PAIRS = {")": "(", "]": "[", "}": "{"}

def balanced(text):
    stack = []
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in ")]}":
            if not stack or stack.pop() != PAIRS[ch]:
                return False
    return not stack
''',
    "python_regex": r'''import re

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![\w-])")
DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?$")
print([m.group() for m in EMAIL.finditer("ana@example.com, bo@test.org")])
''',
    "javascript": '''export async function fetchAll(urls) {
  const results = await Promise.all(urls.map(async (url) => {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status} for ${url}`);
    return res.json();
  }));
  return results.filter((r) => r && r.items?.length > 0);
}
''',
    "typescript_generics": '''type Result<T, E = Error> = { ok: true; value: T } | { ok: false; error: E };

function map<T, U>(r: Result<T>, f: (t: T) => U): Result<U> {
  return r.ok ? { ok: true, value: f(r.value) } : r;
}
''',
    "sql": '''WITH daily AS (
    SELECT date_trunc('day', ts) AS day, model, count(*) AS calls, avg(latency_ms) AS latency_ms
    FROM calls
    WHERE ts >= now() - INTERVAL 7 DAY
    GROUP BY 1, 2
)
SELECT day, model, calls, round(latency_ms, 1) AS latency_ms
FROM daily
ORDER BY day DESC, calls DESC;
''',
    "rust": '''fn parse_pairs(input: &str) -> Result<Vec<(String, i64)>, ParseIntError> {
    input
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, "0"));
            Ok((k.trim().to_string(), v.trim().parse::<i64>()?))
        })
        .collect()
}
''',
    "lisp": '''(defun fact (n)
  (if (<= n 1)
      1
      (* n (fact (- n 1)))))
(mapcar #'fact '(1 2 3 4 5))
''',
    "shell": '''#!/usr/bin/env bash
set -euo pipefail
for f in "${@:-.}"/*.log; do
  [[ -s "$f" ]] || continue
  grep -cE '(ERROR|FATAL)' "$f" | xargs -I{} echo "$f: {} errors"
done
''',
    "c_nested": '''int main(void) {
    int grid[3][3] = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}};
    for (int i = 0; i < 3; i++) { for (int j = 0; j < 3; j++) { printf("%d ", grid[i][j]); } }
    return 0;
}
''',
    "json_object": '''{"order_id": "A-1042", "status": "shipped", "items": [{"sku": "KB-01", "qty": 2},
 {"sku": "MS-07", "qty": 1}], "shipping": {"carrier": "DHL", "eta_days": 3}, "gift": false}''',
    "json_array_repetitive": '''[{"ok": true}, {"ok": true}, {"ok": true}, {"ok": true}, {"ok": true}, {"ok": true},
 {"ok": true}, {"ok": true}, {"ok": true}, {"ok": true}]''',
    "json_in_fence": '''Here is the record:

```json
{"name": "Ana", "roles": ["admin", "editor"], "limits": {"daily": 100, "burst": [5, 10]}}
```
''',
    "json_deeply_nested": '{"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": [1, [2, [3, [4]]]]}}}}}}}}',
    "markdown_table": '''| model | p95 (ms) | cost ($) | pass |
|---|---:|---:|:---:|
| v2 | 840 | 0.002 | yes |
| xl | 1,920 | 0.011 | yes |
| lite | 410 | 0.0004 | no |
''',
    "markdown_table_short_cells": '''| a | b | c |
|---|---|---|
| 1 | 0 | 1 |
| 0 | 1 | 0 |
| 1 | 1 | 1 |
''',
    "bulleted_list": '''Before you deploy:
- run the tests
- check the dashboard
- tag the release
- tell the on-call engineer
- update the changelog
''',
    "numbered_list_parens": '''Steps:
1) Open Settings.
2) Choose Billing.
3) Click "Update card".
4) Enter the new card and save.
a) If it fails, retry once.
b) Then contact support.
''',
    "checklist": '''- [x] schema migrated
- [x] backfill finished
- [ ] alerts updated
- [ ] docs reviewed
- [ ] owner sign-off
''',
    "prose": '''Your refund was approved on Monday. It usually takes three to five business days to
appear on your statement, depending on your bank. If you do not see it by Friday, reply to
this message with your order number and we will trace it with the payment provider.''',
    "prose_with_rule": '''Summary
=======

The migration finished without errors.

-----

Next steps: verify the row counts and switch the readers over.''',
    "yaml": '''evaluators:
  - name: answer_is_json
    type: is_json
  - name: no_pii
    type: pii
    params: {entities: [EMAIL, PHONE]}
candidates:
  - {id: support-v2, model: "openai/gpt-4o-mini"}
''',
    "html": '''<ul class="menu">
  <li><a href="/docs">Docs</a></li>
  <li><a href="/pricing">Pricing</a></li>
  <li><a href="/login" class="btn btn-primary">Log in</a></li>
</ul>''',
    "csv": '''day,model,calls,errors
2026-11-01,v2,1200,3
2026-11-02,v2,1175,0
2026-11-03,v2,1302,5
2026-11-04,v2,1250,1
2026-11-05,v2,1288,2
''',
    "diff": '''--- a/app/config.py
+++ b/app/config.py
@@ -10,7 +10,7 @@ def load(path):
-    timeout = 30
+    timeout = int(os.environ.get("APP_TIMEOUT_S", "30"))
     return Config(path=path, timeout=timeout)
''',
    "log_excerpt": '''2026-11-30T10:00:01Z INFO  worker[1] started (pid=4411)
2026-11-30T10:00:02Z INFO  worker[2] started (pid=4412)
2026-11-30T10:00:09Z WARN  worker[1] slow call: 2310 ms > 2000 ms
2026-11-30T10:00:12Z ERROR worker[2] upstream 503 (retry 1/3)
2026-11-30T10:00:14Z INFO  worker[2] retry ok
''',
    "math": "The roots are x = (-b ± √(b² - 4ac)) / (2a); with a = 1, b = -3, c = 2 they are x = 1 and x = 2.",
    "short_answer": "Yes.",
    "emoticons": "Thanks so much :) that fixed it :-) see you (and the team) tomorrow ;)",
    "regex_answer": r"Use `^[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4})+$` to match a spaced IBAN, then check mod-97.",
}
"""Real answers: none of these may be flagged."""


CONSTANT_JUNK: dict[str, str] = {
    "brackets_and_code_tokens": "]] }} )) [[ {{ (( ]] }} <|im_end|> ]] }} )) [[ {{ (( ]] }} <|im_end|> ]] }} ))",
    "bracket_salad": "}{][)(}{][)(}{][)( ]}{)[( }]{)[( ]}{)[(",
    "punctuation_run": "Sure!!! ;;;;:::::,,,,,....;;;;]]]]]]]]}}}}}}}}",
    "code_token_salad": "{{ } ] ) ; self ] } ) ( [ { }} ]) ;; ]] ) } { [ ( ) ] } ] ) ; self ] } ) ( [ {",
    "repeated_word": "the the the the the the the the the the the the the the the the the the the",
    "repeated_phrase": "I am sorry I am sorry I am sorry I am sorry I am sorry I am sorry I am sorry",
    "repeated_token_pair": "<unk> <pad> <unk> <pad> <unk> <pad> <unk> <pad> <unk> <pad> <unk> <pad> <unk> <pad>",
    "repeated_line": "\n".join(["ERROR: output truncated"] * 8),
    "special_tokens": "<s></s><s></s><s></s><s></s><s></s><s></s><s></s><s></s><s></s><s></s>",
    "few_tokens": "foo bar baz foo bar baz foo bar baz foo bar baz foo bar baz foo bar baz",
    "closing_flood": "})]})]})]})]})]})]})]})]})]})]})]})]})]",
    "underscores_and_symbols": "__ ## __ ## __ ## __ ## __ ## __ ## __ ## __ ## __ ## __ ##",
    "mixed_junk_with_word": "ok ]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]] ))))))))))))))))))",
    "json_shaped_junk": '{{{{"":[[[[,,,,]]]]}}}}{{{{"":[[[[,,,,]]]]}}}}',
    "angle_brackets": "<<<>>><<<>>><<<>>>|||<<<>>><<<>>><<<>>>|||<<<>>>",
    "number_loop": "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
}
"""Constant junk: every one must be flagged."""
