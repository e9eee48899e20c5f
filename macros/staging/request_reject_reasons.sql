{#-
    The checks of raw_events that need more than one row, in one place for the ledger
    (base_events: every dedupe winner) and the incremental path of stg_events (recent winners,
    checked together with the impressions already staged for the same requests).

    `winners`: events that passed the row checks and won their dedupe (one row per event_id),
    with event_id, user_id, pin_id, request_id, event_type, surface, feed_position.
    `context_impressions` (optional): impressions staged earlier, same columns, checked with them.

    A select of (event_id, request_reject_reason), one row per winner; the reason is NULL when
    the event passes. In this order:
      inconsistent_request          the request's impressions name more than one user or surface
      repeated_position_in_request  two impressions of the request share a feed position
      repeated_pin_in_request       a pin is impressed twice in the request: (request_id, pin_id)
                                    would no longer name one served item
      engagement_without_impression a click, save or hide whose (request_id, pin_id) was never
                                    impressed to that user in a request that passed
    Every event of a failing request carries the request's reason, so a request is staged whole
    or not at all. app_open rows carry no request and are never checked here.
-#}
{% macro request_reject_reasons(winners, context_impressions=none) -%}
    {%- set impressions -%}
        select request_id, user_id, surface, pin_id, feed_position
        from {{ winners }}
        where event_type = 'impression'
        {%- if context_impressions %}
        union all
        select request_id, user_id, surface, pin_id, feed_position
        from {{ context_impressions }}
        {%- endif %}
    {%- endset -%}
    {%- set requests -%}
        select
            request_id,
            case
                when count(distinct user_id) > 1 or count(distinct surface) > 1
                    then 'inconsistent_request'
                when count(distinct feed_position) < count(*) then 'repeated_position_in_request'
                when count(distinct pin_id) < count(*) then 'repeated_pin_in_request'
            end as request_reject_reason
        from ({{ impressions }}) as impressions
        group by request_id
    {%- endset -%}
    select
        checked.event_id,
        case
            when checked.event_type = 'app_open' then null
            when requests.request_reject_reason is not null then requests.request_reject_reason
            when checked.event_type in ('click', 'save', 'hide') and served.request_id is null
                then 'engagement_without_impression'
        end as request_reject_reason

    from {{ winners }} as checked
    left join ({{ requests }}) as requests
        on checked.request_id = requests.request_id
    left join (
        select distinct impressions.request_id, impressions.pin_id, impressions.user_id
        from ({{ impressions }}) as impressions
        inner join ({{ requests }}) as passed
            on impressions.request_id = passed.request_id
        where passed.request_reject_reason is null
    ) as served
        on checked.request_id = served.request_id
        and checked.pin_id = served.pin_id
        and checked.user_id = served.user_id
{%- endmacro %}
