{#-
    The checks of raw_events that need more than one row, in one place for the ledger
    (base_events: every dedupe winner) and the incremental path of stg_events (recent winners,
    checked together with the impressions already staged for the same requests).

    `relation` has event_id, user_id, pin_id, request_id, event_type, surface, feed_position and
    a boolean is_served_row: the row passed the row checks and won its dedupe, so, if it is an
    impression, it was served in its request (the rest are carried along and never checked).
    Returns every column of `relation`, helper counts, and request_reject_reason (NULL when the
    served row passes), in this order:
      inconsistent_request          the request's impressions name more than one user or surface
      repeated_position_in_request  two impressions of the request share a feed position
      repeated_pin_in_request       a pin is impressed twice in the request: (request_id, pin_id)
                                    would no longer name one served item
      engagement_without_impression a click, save or hide whose (request_id, pin_id) was never
                                    impressed to that user
    Every event of a failing request carries the request's reason, so a request is staged whole
    or not at all. app_open rows carry no request and are never checked.

    Two implementations that must agree (the Postgres and Spark parity runs compare every mart
    with DuckDB's): default__ uses window functions, duckdb__ hash aggregates and joins.
-#}
{% macro request_reject_reasons(relation) -%}
    {{ return(adapter.dispatch('request_reject_reasons', 'metricbook')(relation)) }}
{%- endmacro %}

{#-
    Window functions, not joins: no engine can misjudge a join's size here (Postgres estimated
    one row for a filtered CTE and nested-looped for minutes on the 30,000 seed events), and
    DISTINCT inside a window is not portable, so distinct counts are min/max comparisons and
    copies per (request, position) and (request, pin).
-#}
{% macro default__request_reject_reasons(relation) -%}
    select
        by_request.*,
        {{ metricbook.request_reject_reason_case('by_request') }} as request_reject_reason

    from (

        select
            by_item.*,
            min(case when by_item.is_served_impression then by_item.user_id end)
                over (partition by by_item.request_id) as request_min_user,
            max(case when by_item.is_served_impression then by_item.user_id end)
                over (partition by by_item.request_id) as request_max_user,
            min(case when by_item.is_served_impression then by_item.surface end)
                over (partition by by_item.request_id) as request_min_surface,
            max(case when by_item.is_served_impression then by_item.surface end)
                over (partition by by_item.request_id) as request_max_surface,
            max(case when by_item.is_served_impression then by_item.position_copies end)
                over (partition by by_item.request_id) as max_position_copies,
            max(case when by_item.is_served_impression then by_item.pin_copies end)
                over (partition by by_item.request_id) as max_pin_copies

        from (

            select
                flagged.*,
                count(case when flagged.is_served_impression then 1 end) over (
                    partition by flagged.request_id, flagged.feed_position
                ) as position_copies,
                count(case when flagged.is_served_impression then 1 end) over (
                    partition by flagged.request_id, flagged.pin_id
                ) as pin_copies,
                count(case when flagged.is_served_impression then 1 end) over (
                    partition by flagged.request_id, flagged.pin_id, flagged.user_id
                ) as user_pin_impressions

            from (
                select
                    served_rows.*,
                    (served_rows.is_served_row and served_rows.event_type = 'impression')
                        as is_served_impression
                from {{ relation }} as served_rows
            ) as flagged

        ) as by_item

    ) as by_request
{%- endmacro %}


{#-
    DuckDB: four window passes (four sorts of every event) were most of base_events' cost at
    10M events; one hash aggregate per request, one per served item and two hash joins give the
    same reasons in a fraction of it. DuckDB plans the joins from real sizes, so the Postgres
    trap above does not apply. The copies are 2 when anything repeats (only > 1 is read).
-#}
{% macro duckdb__request_reject_reasons(relation) -%}
    select
        checks.*,
        {{ metricbook.request_reject_reason_case('checks') }} as request_reject_reason

    from (

        select
            served_rows.*,
            requests.request_min_user,
            requests.request_max_user,
            requests.request_min_surface,
            requests.request_max_surface,
            requests.max_position_copies,
            requests.max_pin_copies,
            coalesce(items.impressions, 0) as user_pin_impressions

        from {{ relation }} as served_rows
        left join (
            select
                request_id,
                min(user_id) as request_min_user,
                max(user_id) as request_max_user,
                min(surface) as request_min_surface,
                max(surface) as request_max_surface,
                case when count(*) > count(distinct feed_position) then 2 else 1 end
                    as max_position_copies,
                case when count(*) > count(distinct pin_id) then 2 else 1 end as max_pin_copies
            from {{ relation }}
            where is_served_row and event_type = 'impression'
            group by request_id
        ) as requests
            on served_rows.request_id = requests.request_id
        left join (
            select
                request_id,
                pin_id,
                user_id,
                count(*) as impressions
            from {{ relation }}
            where is_served_row and event_type = 'impression'
            group by request_id, pin_id, user_id
        ) as items
            on
                served_rows.request_id = items.request_id
                and served_rows.pin_id = items.pin_id
                and served_rows.user_id = items.user_id

    ) as checks
{%- endmacro %}
