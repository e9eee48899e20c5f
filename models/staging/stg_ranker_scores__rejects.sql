-- Rows of raw_ranker_scores that could not be staged, as delivered (trimmed), with the reason.

with

ledger as (

    select * from {{ ref('base_ranker_scores') }}

),

final as (

    select
        model_id,
        request_id,
        pin_id,
        score_text,
        delivery_rank,
        reject_reason

    from ledger
    where row_status = 'rejected'

)

select * from final
