-- Agent runs (traces) and conversations (sessions) in one shape: one row per subject and day.
with traces as (
    select * from {{ source('lake', 'trace_subjects') }}
),

sessions as (
    select * from {{ source('lake', 'session_subjects') }}
),

unioned as (
    select
        cast(day as date) as day,
        'trace' as subject_kind,
        trace_id as subject_id,
        app,
        feature,
        model,
        step_count as steps,
        cast(null as bigint) as turns,
        tool_call_count as tool_calls,
        tool_errors,
        total_tokens,
        cost_usd
    from traces
    union all
    select
        cast(day as date) as day,
        'session' as subject_kind,
        session_id as subject_id,
        app,
        feature,
        model,
        cast(null as bigint) as steps,
        turn_count as turns,
        cast(null as bigint) as tool_calls,
        cast(null as bigint) as tool_errors,
        total_tokens,
        cost_usd
    from sessions
)

select * from unioned
