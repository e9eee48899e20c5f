-- The top var('top_n') categories per (week, country) under var('tie_rule'). The rule is a
-- column of the output, so a reader never has to guess how ties at the cut-off were treated.

{%- set tie_rule = var('tie_rule') %}
{%- set rank_columns = {
    'row_number': 'rank_row_number',
    'rank': 'rank_standard',
    'dense_rank': 'rank_dense',
} %}
{%- if tie_rule not in rank_columns %}
    {{ exceptions.raise_compiler_error(
        "var tie_rule must be one of row_number, rank, dense_rank; got '" ~ tie_rule ~ "'") }}
{%- endif %}

with

rankings as (

    select * from {{ ref('fct_category_rankings') }}

),

final as (

    select
        week_start,
        country,
        category,
        saves,
        {{ rank_columns[tie_rule] }} as category_rank,
        cast('{{ tie_rule }}' as {{ dbt.type_string() }}) as tie_rule,
        {{ integer_var('top_n', 1, 1000) }} as top_n

    from rankings
    where {{ rank_columns[tie_rule] }} <= {{ integer_var('top_n', 1, 1000) }}

)

select * from final
