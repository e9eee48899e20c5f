{#-
    True when `at` falls in an assigned user's post period: [first_assigned_at, end_at], both
    inclusive. `assigned` is a relation alias with first_assigned_at and end_at. Written once
    because every experiment mart must count the same window: an event before exposure is not
    a treatment effect, and a mart that uses `<` where another uses `<=` disagrees with it.
-#}
{% macro in_experiment_post_period(assigned, at) -%}
    ({{ assigned }}.first_assigned_at <= {{ at }} and {{ assigned }}.end_at >= {{ at }})
{%- endmacro %}
