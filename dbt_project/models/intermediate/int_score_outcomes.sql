-- One row per completed-or-not score of a production call, with the call's segment
-- (app, feature, model, prompt version): the score grain evaluator_daily and drift aggregate.
with calls as (
    select * from {{ ref('stg_calls') }}
),

scores as (
    select * from {{ ref('stg_call_scores') }}
),

final as (
    select
        scores.call_id,
        scores.day,
        calls.app,
        calls.feature,
        calls.model,
        calls.prompt_version,
        scores.evaluator,
        scores.evaluator_version,
        scores.metric,
        -- '' rather than null: a deterministic evaluator has no judge, and '' groups and compares.
        coalesce(scores.judge_model, '') as judge_model,
        scores.score_status,
        scores.value,
        scores.passed,
        coalesce(scores.judge_cost_usd, 0) as judge_cost_usd
    from scores
    inner join calls
        on scores.call_id = calls.call_id and scores.day = calls.day
)

select * from final
