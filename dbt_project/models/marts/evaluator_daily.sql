-- Incremental by day: a run given the days it touched (var `days`) rebuilds only those
-- days (delete+insert on `day`); without it, every day is rebuilt.
{{ config(
    materialized='incremental', incremental_strategy='delete+insert', unique_key='day',
    pre_hook="{{ delete_partition_days('day') }}",
) }}

with scores as (
    select * from {{ ref('int_score_outcomes') }}
    {{ partition_days_filter('day') }}
),

final as (
    select
        day,
        app,
        feature,
        model,
        prompt_version,
        evaluator,
        evaluator_version,
        metric,
        judge_model,
        count(*) as scores,
        count(*) filter (where score_status = 'completed') as completed_scores,
        count(*) filter (where score_status = 'completed' and passed) as passed_scores,
        passed_scores / nullif(completed_scores, 0) as pass_rate,
        avg(value) filter (where score_status = 'completed') as mean_value,
        count(*) filter (where score_status = 'error') as error_scores,
        count(*) filter (where score_status = 'skipped') as skipped_scores,
        sum(judge_cost_usd) as judge_cost_usd
    from scores
    group by all
)

select * from final
