with source as (
    select * from {{ source('lake', 'candidate_scores') }}
),

renamed as (
    select
        candidate_id,
        subject_id as case_id,
        dataset_version,
        evaluator,
        evaluator_version,
        metric,
        value,
        passed,
        label,
        failure_category,
        status as score_status,
        judge_model,
        judge_cost_usd,
        judge_mode,
        judge_cost_source
    from source
)

select * from renamed
