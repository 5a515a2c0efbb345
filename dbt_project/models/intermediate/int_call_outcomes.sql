-- One row per production call with its evaluator verdict: the call grain every SLO mart
-- (daily, rolling, drift) aggregates, so "passed" and "cost" mean the same thing in each.
with calls as (
    select * from {{ ref('stg_calls') }}
),

scores as (
    select * from {{ ref('stg_call_scores') }}
),

call_verdicts as (
    select
        call_id,
        day,
        count(*) filter (where score_status = 'completed') as completed_scores,
        count(*) filter (where score_status = 'completed' and not passed) as failed_scores,
        sum(coalesce(judge_cost_usd, 0)) as judge_cost_usd
    from scores
    group by call_id, day
),

final as (
    select
        calls.call_id,
        calls.day,
        calls.app,
        calls.feature,
        calls.model,
        calls.prompt_version,
        calls.status = 'error' as is_error,
        calls.latency_ms,
        calls.cost_usd,
        calls.input_tokens,
        calls.output_tokens,
        coalesce(call_verdicts.completed_scores, 0) > 0 as is_scored,
        coalesce(call_verdicts.completed_scores, 0) > 0 and call_verdicts.failed_scores = 0 as is_passed,
        coalesce(call_verdicts.judge_cost_usd, 0) as judge_cost_usd
    from calls
    left join call_verdicts
        on calls.call_id = call_verdicts.call_id and calls.day = call_verdicts.day
)

select * from final
