with source as (
    select * from {{ source('lake', 'candidate_outputs') }}
),

renamed as (
    select
        candidate_id,
        case_id,
        dataset_version,
        model,
        prompt_version,
        status as output_status,
        error_type,
        error_message,
        cast(latency_ms as double) as latency_ms,
        input_tokens,
        output_tokens,
        cast(cost_usd as double) as cost_usd,
        is_cache_hit,
        generated_at
    from source
)

select * from renamed
