-- The ledger of raw_experiment_variants: one row per delivered row, parsed, with its fate.
-- A variant is valid only for a declared (staged) experiment.

with

source as (

    select * from {{ raw_relation('raw_experiment_variants') }}

),

experiments as (

    -- the staged experiments, from their ledger (base models never read the stg_ layer)
    select experiment_id
    from {{ ref('base_experiments') }}
    where row_status = 'staged'

),

cleaned as (

    select
        ---------- ids
        {{ clean_text('experiment_id') }} as experiment_id,
        {{ clean_text('variant') }} as variant,

        ---------- strings
        {{ clean_text('is_control') }} as is_control_text,
        {{ clean_text('traffic_share') }} as traffic_share_text

    from source

),

parsed as (

    select
        cleaned.*,
        {{ parse_boolean('cleaned.is_control_text') }} as is_control,
        {{ parse_decimal('cleaned.traffic_share_text', precision=9, scale=6) }} as traffic_share,
        experiments.experiment_id is not null as is_known_experiment

    from cleaned
    left join experiments
        on cleaned.experiment_id = experiments.experiment_id

),

validated as (

    select
        *,
        case
            when experiment_id is null then 'missing_experiment_id'
            when variant is null then 'missing_variant'
            when not is_known_experiment then 'unknown_experiment'
            when is_control is null then 'invalid_is_control'
            when traffic_share is null or traffic_share <= 0 or traffic_share > 1
                then 'invalid_traffic_share'
        end as reject_reason

    from parsed

),

ranked as (

    select
        *,
        {{ delivery_rank(
            partition_by=['experiment_id', 'variant'],
            order_by=['is_control_text', 'traffic_share_text'],
            is_valid='reject_reason is null'
        ) }} as delivery_rank

    from validated

),

final as (

    select
        experiment_id,
        variant,
        delivery_rank,
        is_control_text,
        traffic_share_text,
        is_control,
        traffic_share,
        reject_reason,
        {{ row_status('reject_reason', 'delivery_rank') }} as row_status

    from ranked

)

select * from final
