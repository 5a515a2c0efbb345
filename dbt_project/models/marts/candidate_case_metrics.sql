-- One row per candidate, dataset version, case and evaluator: how that evaluation ended.
-- The grain the decision pairs per metric and counts lost evidence on.
with outputs as (
    select * from {{ ref('stg_candidate_outputs') }}
),

scores as (
    select * from {{ ref('stg_candidate_scores') }}
),

per_evaluator as (
    select
        candidate_id,
        case_id,
        dataset_version,
        evaluator,
        count(*) as scores,
        count(*) filter (where score_status = 'completed') as completed_scores,
        count(*) filter (where score_status = 'completed' and passed) as passed_scores,
        count(*) filter (where score_status = 'error') as error_scores,
        count(*) filter (where score_status not in ('completed', 'error')) as skipped_scores,
        -- For scores that did not complete, `label` is their stable type (assay/outcomes.py).
        min(label) filter (where score_status = 'error') as error_type,
        min(label) filter (where score_status not in ('completed', 'error')) as skip_reason,
        bool_or(judge_model is not null) as is_judged
    from scores
    group by all
),

final as (
    select
        per_evaluator.candidate_id,
        per_evaluator.case_id,
        per_evaluator.dataset_version,
        per_evaluator.evaluator,
        case
            when per_evaluator.error_scores > 0 then 'error'
            when per_evaluator.completed_scores > 0 then 'completed'
            else 'skipped'
        end as outcome,
        coalesce(per_evaluator.error_type, per_evaluator.skip_reason) as outcome_type,
        per_evaluator.scores,
        per_evaluator.completed_scores,
        per_evaluator.passed_scores,
        per_evaluator.passed_scores / nullif(per_evaluator.completed_scores, 0) as pass_share,
        per_evaluator.completed_scores > 0 and per_evaluator.passed_scores = per_evaluator.completed_scores
            as is_passed,
        per_evaluator.is_judged,
        outputs.output_status as replay_status,
        outputs.error_type as replay_error_type
    from per_evaluator
    inner join outputs
        on per_evaluator.candidate_id = outputs.candidate_id
        and per_evaluator.case_id = outputs.case_id
        and per_evaluator.dataset_version = outputs.dataset_version
)

select * from final
