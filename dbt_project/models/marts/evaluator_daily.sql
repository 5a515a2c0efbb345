with calls as (
    select * from {{ ref('stg_calls') }}
),

scores as (
    select * from {{ ref('stg_call_scores') }}
),

final as (
    select
        scores.day,
        calls.app,
        calls.feature,
        scores.evaluator,
        scores.evaluator_version,
        scores.metric,
        coalesce(scores.judge_model, '') as judge_model,
        count(*) as scores,
        count(*) filter (where scores.score_status = 'completed') as completed_scores,
        count(*) filter (where scores.score_status = 'completed' and scores.passed) as passed_scores,
        passed_scores / nullif(completed_scores, 0) as pass_rate,
        avg(scores.value) filter (where scores.score_status = 'completed') as mean_value,
        count(*) filter (where scores.score_status = 'error') as error_scores,
        count(*) filter (where scores.score_status = 'skipped') as skipped_scores,
        coalesce(sum(scores.judge_cost_usd), 0) as judge_cost_usd
    from scores
    inner join calls
        on scores.call_id = calls.call_id and scores.day = calls.day
    group by all
)

select * from final
