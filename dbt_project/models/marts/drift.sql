-- One row per metric and segment: the recent window against the reference window just before
-- it. Rates (error_rate, per-evaluator pass_rate) get a two-proportion z-test and Cohen's h;
-- distributions (latency_ms per feature; score_value per evaluator metric with more than two
-- values) get a two-sample Kolmogorov-Smirnov test and its D. See drift.yml for every column.
{%- set recent_days = var('drift_recent_days') | int %}
{%- set reference_days = var('drift_reference_days') | int %}
{%- set as_of_day = var('drift_as_of_day') %}
{%- if recent_days < 1 or reference_days < 1 %}
    {{ exceptions.raise_compiler_error("vars drift_recent_days and drift_reference_days must be >= 1, got " ~ recent_days ~ " and " ~ reference_days) }}
{%- endif %}

with calls as (
    select * from {{ ref('int_call_outcomes') }}
),

scores as (
    select * from {{ ref('int_score_outcomes') }}
),

bounds as (
    select
        as_of as recent_end_day,
        as_of - {{ recent_days - 1 }} as recent_start_day,
        as_of - {{ recent_days }} as reference_end_day,
        as_of - {{ recent_days + reference_days - 1 }} as reference_start_day
    from (
        {%- if as_of_day %}
        select cast('{{ as_of_day }}' as date) as as_of
        {%- else %}
        select max(day) as as_of from calls
        {%- endif %}
    )
),

call_windows as (
    select
        calls.*,
        if(calls.day >= bounds.recent_start_day, 'recent', 'reference') as drift_window
    from calls
    cross join bounds
    where calls.day between bounds.reference_start_day and bounds.recent_end_day
),

score_windows as (
    select
        scores.*,
        if(scores.day >= bounds.recent_start_day, 'recent', 'reference') as drift_window
    from scores
    cross join bounds
    where scores.day between bounds.reference_start_day and bounds.recent_end_day
),

-- Which evaluator version and judge model produced each window's scores. A change means the
-- ruler moved, not necessarily the app: such rows are reported but never flagged as drift.
evaluator_setups as (
    select
        app,
        feature,
        evaluator,
        metric as evaluator_metric,
        string_agg(distinct evaluator_version || ' judge=' || judge_model, ', ' order by evaluator_version || ' judge=' || judge_model)
            filter (where drift_window = 'reference') as reference_setup,
        string_agg(distinct evaluator_version || ' judge=' || judge_model, ', ' order by evaluator_version || ' judge=' || judge_model)
            filter (where drift_window = 'recent') as recent_setup
    from score_windows
    group by all
),

proportion_counts as (
    select
        'error_rate' as metric, app, feature, '' as evaluator, '' as evaluator_metric, drift_window,
        count(*) filter (where is_error) as successes,
        count(*) as trials
    from call_windows
    group by all
    union all
    select
        'pass_rate' as metric, app, feature, evaluator, metric as evaluator_metric, drift_window,
        count(*) filter (where passed) as successes,
        count(*) as trials
    from score_windows
    where score_status = 'completed'
    group by all
),

proportions as (
    select
        metric, app, feature, evaluator, evaluator_metric,
        sum(trials) filter (where drift_window = 'reference') as reference_n,
        sum(successes) filter (where drift_window = 'reference') as reference_successes,
        sum(trials) filter (where drift_window = 'recent') as recent_n,
        sum(successes) filter (where drift_window = 'recent') as recent_successes
    from proportion_counts
    group by all
),

proportion_tests as (
    select
        *,
        'two_proportion_z' as test,
        reference_successes / reference_n as reference_value,
        recent_successes / recent_n as recent_value,
        (reference_successes + recent_successes) / (reference_n + recent_n) as pooled_rate,
        sqrt(pooled_rate * (1 - pooled_rate) * (1 / reference_n + 1 / recent_n)) as standard_error,
        -- Both windows all-0 or all-1: identical, so z = 0 and p = 1 rather than 0/0.
        case when standard_error > 0 then (recent_value - reference_value) / standard_error else 0 end as z,
        cast(null as double) as ks_d,
        'cohens_h' as effect_size_kind,
        2 * asin(sqrt(recent_value)) - 2 * asin(sqrt(reference_value)) as effect_size
    from proportions
),

distribution_values as (
    select 'latency_ms' as metric, app, feature, '' as evaluator, '' as evaluator_metric, drift_window, latency_ms as value
    from call_windows
    where latency_ms is not null
    union all
    select 'score_value' as metric, app, feature, evaluator, metric as evaluator_metric, drift_window, value
    from score_windows
    where score_status = 'completed' and value is not null
        -- A two-valued score (pass/fail as 1/0) is already tested as pass_rate.
        and (app, feature, evaluator, metric) in (
            select (app, feature, evaluator, metric)
            from score_windows
            where score_status = 'completed' and value is not null
            group by all
            having count(distinct value) > 2
        )
),

distribution_medians as (
    select
        metric, app, feature, evaluator, evaluator_metric,
        count(*) filter (where drift_window = 'reference') as reference_n,
        count(*) filter (where drift_window = 'recent') as recent_n,
        quantile_cont(value, 0.5) filter (where drift_window = 'reference') as reference_value,
        quantile_cont(value, 0.5) filter (where drift_window = 'recent') as recent_value
    from distribution_values
    group by all
),

-- Empirical CDFs of both windows at every distinct value: D is their largest gap.
value_counts as (
    select
        metric, app, feature, evaluator, evaluator_metric, value,
        count(*) filter (where drift_window = 'reference') as reference_at,
        count(*) filter (where drift_window = 'recent') as recent_at
    from distribution_values
    group by all
),

ecdfs as (
    select
        metric, app, feature, evaluator, evaluator_metric,
        sum(reference_at) over cumulative / sum(reference_at) over segment as reference_cdf,
        sum(recent_at) over cumulative / sum(recent_at) over segment as recent_cdf
    from value_counts
    window
        segment as (partition by metric, app, feature, evaluator, evaluator_metric),
        cumulative as (
            partition by metric, app, feature, evaluator, evaluator_metric
            order by value rows between unbounded preceding and current row
        )
),

distribution_tests as (
    select
        medians.*,
        'ks_two_sample' as test,
        cast(null as double) as z,
        max(abs(ecdfs.recent_cdf - ecdfs.reference_cdf)) as ks_d,
        'ks_d' as effect_size_kind,
        ks_d as effect_size
    from distribution_medians as medians
    inner join ecdfs
        on medians.metric = ecdfs.metric
        and medians.app = ecdfs.app
        and medians.feature = ecdfs.feature
        and medians.evaluator = ecdfs.evaluator
        and medians.evaluator_metric = ecdfs.evaluator_metric
    group by all
),

tests as (
    select
        metric, app, feature, evaluator, evaluator_metric, test,
        reference_n, recent_n, reference_value, recent_value, z, ks_d, effect_size_kind, effect_size,
        -- least(): the erfc fit overshoots 1 by up to 1.2e-7 at z = 0.
        case
            when reference_n > 0 and recent_n > 0 then least(1.0, {{ normal_two_sided_p('z') }})
        end as p_value
    from proportion_tests
    union all by name
    select
        metric, app, feature, evaluator, evaluator_metric, test,
        reference_n, recent_n, reference_value, recent_value, z, ks_d, effect_size_kind, effect_size,
        case
            when reference_n > 0 and recent_n > 0
                then {{ kolmogorov_sf('ks_d * sqrt(reference_n * recent_n / (reference_n + recent_n))') }}
        end as p_value
    from distribution_tests
),

judged as (
    select
        tests.*,
        coalesce(setups.reference_setup is distinct from setups.recent_setup
            and setups.reference_setup is not null and setups.recent_setup is not null, false)
            as judge_or_evaluator_changed,
        setups.reference_setup,
        setups.recent_setup,
        abs(tests.effect_size) >= if(tests.test = 'two_proportion_z', {{ var('drift_min_effect_h') }}, {{ var('drift_min_ks_d') }})
            as is_effect_large,
        tests.p_value < {{ var('drift_alpha') }} as is_significant
    from tests
    left join evaluator_setups as setups
        on tests.evaluator = setups.evaluator
        and tests.evaluator_metric = setups.evaluator_metric
        and tests.app = setups.app
        and tests.feature = setups.feature
),

final as (
    select
        metric,
        app,
        feature,
        evaluator,
        evaluator_metric,
        test,
        bounds.reference_start_day,
        bounds.reference_end_day,
        bounds.recent_start_day,
        bounds.recent_end_day,
        cast(coalesce(reference_n, 0) as bigint) as reference_n,
        cast(coalesce(recent_n, 0) as bigint) as recent_n,
        reference_value,
        recent_value,
        recent_value - reference_value as difference,
        round(z, 4) as z_score,
        round(ks_d, 4) as ks_d,
        p_value,
        effect_size_kind,
        effect_size,
        judge_or_evaluator_changed,
        reference_setup,
        recent_setup,
        coalesce(is_significant and is_effect_large and not judge_or_evaluator_changed, false) as flagged,
        case
            when coalesce(reference_n, 0) = 0 then 'no reference data'
            when coalesce(recent_n, 0) = 0 then 'no recent data'
            when judge_or_evaluator_changed
                then 'judge model or evaluator version changed (' || reference_setup || ' -> ' || recent_setup
                    || '): a measurement change, not app drift'
            when is_significant and is_effect_large then 'drift: p below alpha and effect beyond the minimum'
            when is_significant then 'significant but the effect is below the minimum'
            else 'not significant'
        end as reason
    from judged
    cross join bounds
)

select * from final
