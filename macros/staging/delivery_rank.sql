{#-
    The dedupe rule, in one place: number the deliveries of one key so that rank 1 is the row
    that is staged. Valid rows come before rejected ones (a bad retry never hides a good row),
    then the caller's order (earliest timestamp first), then every remaining column as a
    tie-breaker so the winner is a function of the data, not of the engine's scan order.
    NULLS LAST is spelled out because engines disagree on the default (Spark puts them first).
-#}
{% macro delivery_rank(partition_by, order_by, is_valid) -%}
    row_number() over (
        partition by {{ partition_by | join(', ') }}
        order by
            case when {{ is_valid }} then 0 else 1 end,
            {%- for column in order_by %}
            {{ column }} asc nulls last{{ ',' if not loop.last }}
            {%- endfor %}
    )
{%- endmacro %}
