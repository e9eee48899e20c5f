{#-
    Overlap of every unordered pair of groups by their distinct members (e.g. categories by the
    users who saved them): one row per pair with group_a < group_b, only pairs sharing at least
    one member. Columns: group_a, group_b, members_a, members_b, members_both, members_either.
    `group_a < group_b` is what stops (a, b) and (b, a) both being counted, and excludes (a, a).
    Members are made distinct first, so repeated rows (several saves) never inflate a count.
    Derived tables instead of a WITH so the SQL can sit inside any CTE on every engine.
-#}
{% macro unordered_pair_overlap(relation, group_column, member_column) -%}
    select
        pairs.group_a,
        pairs.group_b,
        sizes_a.members as members_a,
        sizes_b.members as members_b,
        pairs.members_both,
        sizes_a.members + sizes_b.members - pairs.members_both as members_either
    from (
        select
            side_a.group_key as group_a,
            side_b.group_key as group_b,
            count(*) as members_both
        from (
            select distinct {{ group_column }} as group_key, {{ member_column }} as member_key
            from {{ relation }}
        ) as side_a
        inner join (
            select distinct {{ group_column }} as group_key, {{ member_column }} as member_key
            from {{ relation }}
        ) as side_b
            on side_a.member_key = side_b.member_key and side_a.group_key < side_b.group_key
        group by side_a.group_key, side_b.group_key
    ) as pairs
    inner join (
        select {{ group_column }} as group_key, count(distinct {{ member_column }}) as members
        from {{ relation }}
        group by {{ group_column }}
    ) as sizes_a
        on pairs.group_a = sizes_a.group_key
    inner join (
        select {{ group_column }} as group_key, count(distinct {{ member_column }}) as members
        from {{ relation }}
        group by {{ group_column }}
    ) as sizes_b
        on pairs.group_b = sizes_b.group_key
{%- endmacro %}
