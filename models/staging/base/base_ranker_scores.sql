{{ config(materialized='table') }}

-- The ledger of raw_ranker_scores: one row per delivered row, parsed, with its fate.
-- The key is (model_id, request_id, pin_id). Deliveries of a key that agree on the score are
-- duplicates of one row; deliveries that disagree are all rejected (conflicting_scores): no
-- rule can tell which score the model really gave, and picking one would move the evaluation.
-- A table, like base_events: two scores per impression make it the other big raw table.

with

source as (

    select * from {{ raw_relation('raw_ranker_scores') }}

),

cleaned as (

    select
        ---------- ids
        {{ clean_text('model_id') }} as model_id,
        {{ clean_text('request_id') }} as request_id,
        {{ clean_text('pin_id') }} as pin_id,

        ---------- numerics (as text)
        {{ clean_text('score') }} as score_text

    from source

),

parsed as (

    select
        *,
        {{ parse_probability('score_text') }} as score

    from cleaned

),

validated as (

    select
        *,
        -- Checked in this order; the first failing check is the reason.
        case
            when model_id is null then 'missing_model_id'
            -- the served order is evaluated as the pseudo-model 'logged' (fct_ranker_offline_eval)
            when model_id = 'logged' then 'reserved_model_id'
            when request_id is null then 'missing_request_id'
            when pin_id is null then 'missing_pin_id'
            when score is null then 'invalid_score'
            when score < 0 or score > 1 then 'score_out_of_range'
        end as row_reject_reason

    from parsed

),

copies as (

    -- the keys delivered more than once (a small share): the only ones that can conflict, and
    -- the only deliveries that need the sort a rank costs (a lone delivery is rank 1). A key
    -- with a NULL part is rejected anyway and always goes through the rank.
    select
        model_id,
        request_id,
        pin_id,
        count(distinct case when row_reject_reason is null then score end) as valid_scores

    from validated
    where model_id is not null and request_id is not null and pin_id is not null
    group by model_id, request_id, pin_id
    having count(*) > 1

),

checked as (

    select
        validated.model_id,
        validated.request_id,
        validated.pin_id,
        validated.score_text,
        validated.score,
        case
            when validated.row_reject_reason is not null then validated.row_reject_reason
            when copies.valid_scores > 1 then 'conflicting_scores'
        end as reject_reason,
        copies.model_id is not null
        or validated.model_id is null
        or validated.request_id is null
        or validated.pin_id is null as has_copies

    from validated
    left join copies
        on
            validated.model_id = copies.model_id
            and validated.request_id = copies.request_id
            and validated.pin_id = copies.pin_id

),

ranked as (

    select
        model_id,
        request_id,
        pin_id,
        score_text,
        score,
        reject_reason,
        1 as delivery_rank

    from checked
    where not has_copies

    union all

    select
        model_id,
        request_id,
        pin_id,
        score_text,
        score,
        reject_reason,
        {{ delivery_rank(
            partition_by=['model_id', 'request_id', 'pin_id'],
            order_by=['score', 'score_text'],
            is_valid='reject_reason is null'
        ) }} as delivery_rank

    from checked
    where has_copies

),

final as (

    select
        model_id,
        request_id,
        pin_id,
        delivery_rank,
        score_text,
        score,
        reject_reason,
        {{ row_status('reject_reason', 'delivery_rank') }} as row_status

    from ranked

)

select * from final
