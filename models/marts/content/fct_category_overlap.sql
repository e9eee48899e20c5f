-- Jaccard overlap of the audiences of every pair of pin categories. A category's audience is the
-- distinct users who saved at least one of its pins (over all observed weeks). Unordered pairs
-- only: (art, beauty) is one row, never also (beauty, art), and never (art, art).

with

pin_saves as (

    select * from {{ ref('int_weekly_pin_saves') }}

),

pair_overlap as (

    {{ unordered_pair_overlap('pin_saves', 'category', 'user_id') }}

),

final as (

    select
        group_a as category_a,
        group_b as category_b,
        members_a as users_a,
        members_b as users_b,
        members_both as users_both,
        members_either as users_either,
        {{ safe_divide('members_both', 'members_either') }} as jaccard

    from pair_overlap

)

select * from final
