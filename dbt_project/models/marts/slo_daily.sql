-- Incremental by day: a run given the days it touched (var `days`) rebuilds only those
-- days (delete+insert on `day`); without it, every day is rebuilt.
{{ config(
    materialized='incremental', incremental_strategy='delete+insert', unique_key='day',
    pre_hook="{{ delete_partition_days('day') }}",
) }}

with calls as (
    select * from {{ ref('int_call_outcomes') }}
    {{ partition_days_filter('day') }}
),

final as (
    select
        day,
        app,
        feature,
        model,
        prompt_version,
        count(*) as calls,
        count(*) filter (where is_error) as error_calls,
        count(*) filter (where is_error) / count(*) as error_rate,
        round(quantile_cont(latency_ms, 0.50), 3) as latency_p50_ms,
        round(quantile_cont(latency_ms, 0.95), 3) as latency_p95_ms,
        round(quantile_cont(latency_ms, 0.99), 3) as latency_p99_ms,
        sum(cost_usd) as cost_total_usd,
        avg(cost_usd) as cost_per_request_usd,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        count(*) filter (where is_scored) as scored_calls,
        count(*) filter (where is_passed) as passed_calls,
        passed_calls / nullif(scored_calls, 0) as pass_rate,
        sum(judge_cost_usd) as judge_cost_usd
    from calls
    group by all
)

select * from final
