with source as (
    select * from {{ source('lake', 'raw_calls') }}
),

renamed as (
    select
        call_id,
        trace_id,
        cast(day as date) as day,
        ts,
        app,
        feature,
        environment,
        prompt_id,
        coalesce(prompt_version, 'unknown') as prompt_version,
        provider,
        model,
        status,
        error_type,
        cast(latency_ms as double) as latency_ms,
        cast(ttft_ms as double) as ttft_ms,
        input_tokens,
        output_tokens,
        cast(cost_usd as double) as cost_usd,
        cost_source,
        user_id,
        session_id,
        feedback_score,
        source_format,
        source_file
    from source
)

select * from renamed
