-- The ledger of raw_experiment_assignments: one row per delivered row, parsed, with its fate.
-- An assignment is valid only to a declared variant of a declared experiment. Conflicting
-- variants and assignments after the end are valid rows here: the experiment marts decide.

with

source as (

    select * from {{ raw_relation('raw_experiment_assignments') }}

),

variants as (

    select
        experiment_id,
        variant

    -- the staged variants, read from their ledger: base models read only raw data and other
    -- ledgers, never the stg_ layer above them
    from {{ ref('base_experiment_variants') }}
    where row_status = 'staged'

),

experiments as (

    select experiment_id
    from {{ ref('base_experiments') }}
    where row_status = 'staged'

),

cleaned as (

    select
        ---------- ids
        {{ clean_text('experiment_id') }} as experiment_id,
        {{ clean_text('user_id') }} as user_id,
        {{ clean_text('variant') }} as variant,

        ---------- strings
        {{ clean_text('assigned_at') }} as assigned_at_text

    from source

),

parsed as (

    select
        cleaned.*,
        {{ plausible_utc_timestamp('cleaned.assigned_at_text') }} as assigned_at,
        experiments.experiment_id is not null as is_known_experiment,
        variants.variant is not null as is_known_variant

    from cleaned
    left join experiments
        on cleaned.experiment_id = experiments.experiment_id
    left join variants
        on
            cleaned.experiment_id = variants.experiment_id
            and cleaned.variant = variants.variant

),

validated as (

    select
        *,
        case
            when experiment_id is null then 'missing_experiment_id'
            when user_id is null then 'missing_user_id'
            when variant is null then 'missing_variant'
            when assigned_at is null
                then {{ timestamp_reject_reason('assigned_at_text', 'assigned_at', 'assigned_at') }}
            when not is_known_experiment then 'unknown_experiment'
            when not is_known_variant then 'unknown_variant'
        end as reject_reason

    from parsed

),

ranked as (

    select
        *,
        -- The first assignment to a variant wins; a repeat of it is a duplicate delivery.
        {{ delivery_rank(
            partition_by=['experiment_id', 'user_id', 'variant'],
            order_by=['assigned_at', 'assigned_at_text'],
            is_valid='reject_reason is null'
        ) }} as delivery_rank

    from validated

),

final as (

    select
        experiment_id,
        user_id,
        variant,
        delivery_rank,
        assigned_at_text,
        assigned_at,
        reject_reason,
        {{ row_status('reject_reason', 'delivery_rank') }} as row_status

    from ranked

)

select * from final
