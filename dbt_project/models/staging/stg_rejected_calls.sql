with source as (
    select * from {{ source('lake', 'rejected_calls') }}
),

renamed as (
    select
        cast(day as date) as day,
        source_file,
        source_offset,
        source_format,
        reason,
        -- The reason up to its first detail: groups "not valid JSON: ..." lines together.
        split_part(reason, ':', 1) as reason_kind
    from source
)

select * from renamed
