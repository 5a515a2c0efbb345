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
        {{ slo_metrics() }}
    from calls
    group by all
)

select * from final
