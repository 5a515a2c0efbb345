-- One row per as-of day, window length (7 and 28 days), app, feature, model and prompt version.
-- Every figure is recomputed from the window's calls (int_call_outcomes), never from slo_daily:
-- a rate of daily rates over-weights quiet days, and a mean of daily p95s is not a p95.
with calls as (
    select * from {{ ref('int_call_outcomes') }}
),

as_of_days as (
    select distinct day as as_of_day from calls
),

windows as (
    select unnest({{ var('slo_rolling_window_days') }}) as window_days
),

windowed_calls as (
    select
        as_of_days.as_of_day,
        windows.window_days,
        calls.*
    from as_of_days
    cross join windows
    inner join calls
        on calls.day between as_of_days.as_of_day - (windows.window_days - 1) and as_of_days.as_of_day
),

final as (
    select
        as_of_day,
        window_days,
        as_of_day - (window_days - 1) as window_start_day,
        app,
        feature,
        model,
        prompt_version,
        count(distinct day) as days_with_calls,
        {{ slo_metrics() }}
    from windowed_calls
    group by all
)

select * from final
