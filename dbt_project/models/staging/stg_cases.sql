with source as (
    select * from {{ source('lake', 'regression_dataset') }}
),

renamed as (
    select
        case_id,
        dataset_version,
        feature,
        tier,
        critical as is_critical,
        failure_category,
        occurrences,
        first_seen,
        last_seen
    from source
)

select * from renamed
