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
        calls.day,
        calls.app,
        calls.feature,
        calls.model,
        calls.prompt_version,
        count(*) as calls,
        count(*) filter (where calls.status = 'error') as error_calls,
        count(*) filter (where calls.status = 'error') / count(*) as error_rate,
        round(quantile_cont(calls.latency_ms, 0.50), 3) as latency_p50_ms,
        round(quantile_cont(calls.latency_ms, 0.95), 3) as latency_p95_ms,
        round(quantile_cont(calls.latency_ms, 0.99), 3) as latency_p99_ms,
        sum(calls.cost_usd) as cost_total_usd,
        avg(calls.cost_usd) as cost_per_request_usd,
        sum(calls.input_tokens) as input_tokens,
        sum(calls.output_tokens) as output_tokens,
        count(*) filter (where call_verdicts.completed_scores > 0) as scored_calls,
        count(*) filter (where call_verdicts.completed_scores > 0 and call_verdicts.failed_scores = 0)
            as passed_calls,
        passed_calls / nullif(scored_calls, 0) as pass_rate,
        coalesce(sum(call_verdicts.judge_cost_usd), 0) as judge_cost_usd
    from calls
    left join call_verdicts
        on calls.call_id = call_verdicts.call_id and calls.day = call_verdicts.day
    group by all
)

select * from final
