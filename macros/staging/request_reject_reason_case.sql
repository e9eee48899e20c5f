{#-
    The case expression both implementations end with: `checks` has the request's min and max
    user and surface over its served impressions, whether a position or a pin repeats there,
    and how many served impressions share the row's (request_id, pin_id, user_id).
-#}
{% macro request_reject_reason_case(checks) -%}
    case
        when not {{ checks }}.is_served_row or {{ checks }}.event_type = 'app_open' then null
        when {{ checks }}.request_min_user <> {{ checks }}.request_max_user
            or {{ checks }}.request_min_surface <> {{ checks }}.request_max_surface
            then 'inconsistent_request'
        when {{ checks }}.max_position_copies > 1 then 'repeated_position_in_request'
        when {{ checks }}.max_pin_copies > 1 then 'repeated_pin_in_request'
        when {{ checks }}.event_type in ('click', 'save', 'hide')
            and {{ checks }}.user_pin_impressions = 0
            then 'engagement_without_impression'
    end
{%- endmacro %}
