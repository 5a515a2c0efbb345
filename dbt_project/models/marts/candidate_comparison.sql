-- One row per candidate (other than the baseline) and metric, over cases both replayed on the
-- same dataset version. metric = an evaluator name, or `case_pass_share` for all evaluators.
with case_scores as (
    select * from {{ ref('candidate_case_scores') }}
),

scores as (
    select * from {{ ref('stg_candidate_scores') }}
    where score_status = 'completed'
),

baseline_cases as (
    select * from case_scores where candidate_id = '{{ run_var("baseline_id") }}'
),

overall as (
    select
        candidate.candidate_id,
        candidate.dataset_version,
        'case_pass_share' as metric,
        count(*) as paired_cases,
        avg(candidate.pass_share) as candidate_mean,
        avg(baseline.pass_share) as baseline_mean,
        avg(candidate.pass_share - baseline.pass_share) as mean_delta
    from case_scores as candidate
    inner join baseline_cases as baseline
        on candidate.case_id = baseline.case_id and candidate.dataset_version = baseline.dataset_version
    where candidate.candidate_id != '{{ run_var("baseline_id") }}'
        and candidate.pass_share is not null and baseline.pass_share is not null
    group by all
),

metric_case as (
    select candidate_id, case_id, dataset_version, evaluator as metric, avg(passed::int) as pass_share
    from scores
    group by all
),

per_metric as (
    select
        candidate.candidate_id,
        candidate.dataset_version,
        candidate.metric,
        count(*) as paired_cases,
        avg(candidate.pass_share) as candidate_mean,
        avg(baseline.pass_share) as baseline_mean,
        avg(candidate.pass_share - baseline.pass_share) as mean_delta
    from metric_case as candidate
    inner join metric_case as baseline
        on candidate.case_id = baseline.case_id
        and candidate.dataset_version = baseline.dataset_version
        and candidate.metric = baseline.metric
        and baseline.candidate_id = '{{ run_var("baseline_id") }}'
    where candidate.candidate_id != '{{ run_var("baseline_id") }}'
    group by all
),

performance as (
    select
        candidate_id,
        dataset_version,
        -- The gate's rules (assay/glossary.py): a failed replay counts at no less than its time
        -- and the per-attempt timeout; a cost is known for every completed replay or unknown.
        quantile_cont(
            case when output_status = 'error'
                then greatest(coalesce(latency_ms, 0), {{ run_var('replay_timeout_ms') or 0 }})
                else latency_ms end,
            0.95
        ) filter (where output_status in ('completed', 'error')) as latency_p95_ms,
        case when count(*) filter (where output_status = 'completed' and cost_usd is null) = 0
            then avg(cost_usd) filter (where output_status = 'completed') end as cost_per_request_usd,
        count(*) filter (where output_status != 'completed') / count(*) as error_rate
    from case_scores
    group by all
),

final as (
    select
        metrics.candidate_id,
        '{{ run_var("baseline_id") }}' as baseline_id,
        metrics.dataset_version,
        metrics.metric,
        metrics.paired_cases,
        metrics.candidate_mean,
        metrics.baseline_mean,
        metrics.mean_delta,
        candidate_perf.latency_p95_ms as candidate_latency_p95_ms,
        baseline_perf.latency_p95_ms as baseline_latency_p95_ms,
        candidate_perf.cost_per_request_usd as candidate_cost_per_request_usd,
        baseline_perf.cost_per_request_usd as baseline_cost_per_request_usd,
        candidate_perf.error_rate as candidate_error_rate,
        baseline_perf.error_rate as baseline_error_rate
    from (select * from overall union all by name select * from per_metric) as metrics
    left join performance as candidate_perf
        on metrics.candidate_id = candidate_perf.candidate_id
        and metrics.dataset_version = candidate_perf.dataset_version
    left join performance as baseline_perf
        on baseline_perf.candidate_id = '{{ run_var("baseline_id") }}'
        and metrics.dataset_version = baseline_perf.dataset_version
)

select * from final
