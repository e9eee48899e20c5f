{#-
    True when date_column falls in the `days`-day window that ends on (and includes) window_end:
    [window_end - (days - 1), window_end]. WAU is a 7-day window, MAU a 30-day one. Written once
    because the off-by-one (6 vs 7 days back, < vs <=) is the classic bug of rolling metrics.
-#}
{% macro in_trailing_window(date_column, window_end, days) -%}
    ({{ date_column }} <= {{ window_end }}
        and {{ date_column }} > {{ dbt.dateadd('day', -1 * days, window_end) }})
{%- endmacro %}
