-- The ledger of raw_launches: one row per delivered row, parsed, with its fate.
-- A treated unit is valid only if some staged user has it (the user's signup country or
-- platform): a unit nobody belongs to has no metrics to compare. A launch is one instant and
-- one unit type: when its rows disagree on either, no row of it can be trusted.

with

source as (

    select * from {{ raw_relation('raw_launches') }}

),

users as (

    -- the staged users, from their ledger (base models never read the stg_ layer)
    select
        country,
        platform

    from {{ ref('base_users') }}
    where row_status = 'staged'

),

known_units as (

    select distinct
        'country' as unit_type,
        country as unit

    from users

    union all

    select distinct
        'platform' as unit_type,
        platform as unit

    from users

),

cleaned as (

    select
        ---------- ids
        {{ clean_text('launch_id') }} as launch_id,
        {{ clean_text('treated_unit') }} as treated_unit,

        ---------- strings
        {{ clean_text('unit_type') }} as unit_type,
        {{ clean_text('launched_at') }} as launched_at_text

    from source

),

parsed as (

    select
        cleaned.*,
        {{ plausible_utc_timestamp('cleaned.launched_at_text') }} as launched_at,
        known_units.unit is not null as is_known_unit

    from cleaned
    left join known_units
        on
            cleaned.unit_type = known_units.unit_type
            and cleaned.treated_unit = known_units.unit

),

row_checked as (

    select
        *,
        case
            when launch_id is null then 'missing_launch_id'
            when launched_at is null
                then {{ timestamp_reject_reason('launched_at_text', 'launched_at', 'launched_at') }}
            when unit_type is null or unit_type not in ('country', 'platform')
                then 'unknown_unit_type'
            when treated_unit is null then 'missing_treated_unit'
        end as row_reject_reason

    from parsed

),

launch_checked as (

    select
        *,
        -- min <> max rather than count(distinct) over a window: Spark has no DISTINCT there.
        -- Only rows with a parsed instant and a known unit type take part.
        min(case when row_reject_reason is null then launched_at end)
            over (partition by launch_id) as first_launched_at,
        max(case when row_reject_reason is null then launched_at end)
            over (partition by launch_id) as last_launched_at,
        min(case when row_reject_reason is null then unit_type end)
            over (partition by launch_id) as first_unit_type,
        max(case when row_reject_reason is null then unit_type end)
            over (partition by launch_id) as last_unit_type

    from row_checked

),

validated as (

    select
        *,
        case
            when row_reject_reason is not null then row_reject_reason
            when
                first_launched_at <> last_launched_at
                or first_unit_type <> last_unit_type
                then 'inconsistent_launch'
            when not is_known_unit then 'unknown_unit'
        end as reject_reason

    from launch_checked

),

ranked as (

    select
        *,
        {{ delivery_rank(
            partition_by=['launch_id', 'treated_unit'],
            order_by=['launched_at', 'launched_at_text', 'unit_type'],
            is_valid='reject_reason is null'
        ) }} as delivery_rank

    from validated

),

final as (

    select
        launch_id,
        treated_unit,
        delivery_rank,
        unit_type,
        launched_at_text,
        launched_at,
        reject_reason,
        {{ row_status('reject_reason', 'delivery_rank') }} as row_status

    from ranked

)

select * from final
