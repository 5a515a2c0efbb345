with source as (
    select * from {{ source('lake', 'trace_spans') }}
),

renamed as (
    select
        cast(day as date) as day,
        trace_id,
        span_id,
        parent_span_id,
        ts,
        end_ts,
        kind,
        name,
        tool_name,
        status,
        source_format,
        source_file
    from source
)

select * from renamed
