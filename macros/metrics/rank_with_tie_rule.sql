{#-
    A rank under an explicit tie rule, so "top N" always says what it does with ties:
      row_number  exactly N rows per partition; ties broken by `tie_breaker` (deterministic)
      rank        every row tied with the N-th is kept (1, 1, 3: may return more than N rows)
      dense_rank  the N highest distinct values, with all their rows (1, 1, 2)
    `order_by` ranks (e.g. 'saves desc'); `tie_breaker` only orders row_number's ties.
-#}
{% macro rank_with_tie_rule(tie_rule, partition_by, order_by, tie_breaker) -%}
    {%- set functions = {'row_number': 'row_number', 'rank': 'rank', 'dense_rank': 'dense_rank'} -%}
    {%- if tie_rule not in functions -%}
        {{ exceptions.raise_compiler_error(
            "tie_rule must be one of row_number, rank, dense_rank; got '" ~ tie_rule ~ "'") }}
    {%- endif -%}
    {{ functions[tie_rule] }}() over (
        partition by {{ partition_by | join(', ') }}
        order by {{ order_by }}{{ ', ' ~ tie_breaker if tie_rule == 'row_number' }}
    )
{%- endmacro %}
