with source as (
    select * from {{ source('lake', 'call_scores') }}
),

renamed as (
    select
        subject_id as call_id,
        cast(day as date) as day,
        evaluator,
        evaluator_version,
        metric,
        value,
        passed,
        label,
        failure_category,
        status as score_status,
        judge_model,
        judge_input_tokens,
        judge_output_tokens,
        judge_cost_usd,
        judge_mode,
        judge_cost_source,
        duration_ms,
        scored_at
    from source
)

select * from renamed
