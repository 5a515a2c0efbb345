with calls as (
    select * from {{ ref('stg_calls') }}
),

rejected as (
    select * from {{ ref('stg_rejected_calls') }}
),

spans as (
    select * from {{ ref('stg_trace_spans') }}
),

ingested_by_file as (
    select day, source_file, count(*) as ingested_calls
    from calls
    group by all
),

spans_by_file as (
    select day, source_file, count(*) as spans
    from spans
    group by all
),

rejected_by_file as (
    select day, source_file, count(*) as rejected_records, mode(reason_kind) as top_reason
    from rejected
    group by all
),

final as (
    select
        coalesce(ingested.day, rejected.day) as day,
        coalesce(ingested.source_file, rejected.source_file) as source_file,
        coalesce(ingested.ingested_calls, 0) as ingested_calls,
        coalesce(rejected.rejected_records, 0) as rejected_records,
        coalesce(spans_by_file.spans, 0) as spans,
        coalesce(rejected.rejected_records, 0)
            / (coalesce(ingested.ingested_calls, 0) + coalesce(rejected.rejected_records, 0)) as rejected_share,
        rejected.top_reason
    from ingested_by_file as ingested
    full outer join rejected_by_file as rejected
        on ingested.day = rejected.day and ingested.source_file = rejected.source_file
    left join spans_by_file
        on coalesce(ingested.day, rejected.day) = spans_by_file.day
        and coalesce(ingested.source_file, rejected.source_file) = spans_by_file.source_file
)

select * from final
