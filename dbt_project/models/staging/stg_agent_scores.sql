-- Scores of agent runs and conversations: one row per (subject, evaluator, metric) and day.
with trace_scores as (
    select * from {{ source('lake', 'trace_scores') }}
),

session_scores as (
    select * from {{ source('lake', 'session_scores') }}
),

unioned as (
    select cast(day as date) as day, 'trace' as subject_kind, subject_id, evaluator, metric, status, passed,
           value, failure_category, judge_cost_usd
    from trace_scores
    union all
    select cast(day as date) as day, 'session' as subject_kind, subject_id, evaluator, metric, status, passed,
           value, failure_category, judge_cost_usd
    from session_scores
)

select * from unioned
