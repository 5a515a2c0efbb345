-- One row per candidate and case of the dataset version it was replayed on.
with outputs as (
    select * from {{ ref('stg_candidate_outputs') }}
),

cases as (
    select * from {{ ref('stg_cases') }}
),

scores as (
    select * from {{ ref('stg_candidate_scores') }}
),

case_scores as (
    select
        candidate_id,
        case_id,
        dataset_version,
        count(*) filter (where score_status = 'completed') as completed_scores,
        count(*) filter (where score_status = 'completed' and passed) as passed_scores,
        count(*) filter (where judge_model is not null) as judge_scores,
        count(*) filter (where judge_model is not null and score_status in ('error', 'skipped'))
            as judge_failed_scores,
        string_agg(evaluator, ',' order by evaluator) filter (where score_status = 'completed' and not passed)
            as failed_evaluators
    from scores
    group by all
),

final as (
    select
        outputs.candidate_id,
        outputs.case_id,
        outputs.dataset_version,
        cases.feature,
        cases.tier,
        cases.is_critical,
        outputs.output_status,
        outputs.error_type,
        -- For a failed replay: the time it took before giving up (all attempts).
        outputs.latency_ms,
        outputs.cost_usd,
        coalesce(case_scores.completed_scores, 0) as completed_scores,
        coalesce(case_scores.passed_scores, 0) as passed_scores,
        case_scores.passed_scores / nullif(case_scores.completed_scores, 0) as pass_share,
        coalesce(case_scores.completed_scores > 0 and case_scores.passed_scores = case_scores.completed_scores, false)
            as is_case_passed,
        coalesce(case_scores.judge_scores, 0) as judge_scores,
        coalesce(case_scores.judge_failed_scores, 0) as judge_failed_scores,
        case_scores.failed_evaluators
    from outputs
    inner join cases
        on outputs.case_id = cases.case_id and outputs.dataset_version = cases.dataset_version
    left join case_scores
        on outputs.candidate_id = case_scores.candidate_id
        and outputs.case_id = case_scores.case_id
        and outputs.dataset_version = case_scores.dataset_version
)

select * from final
