{#-
    A custom incremental strategy (dbt looks up get_incremental_<strategy>_sql): delete every
    row the incremental_predicates select (the recent days), then insert the new rows. Unlike
    delete+insert it also removes keys the new rows no longer contain.
-#}
{% macro get_incremental_replace_date_range_sql(arg_dict) -%}
    {%- set predicates = arg_dict['incremental_predicates'] -%}
    {%- if not predicates -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy 'replace_date_range' needs incremental_predicates "
            ~ "(use replace_recent_days_config)") }}
    {%- endif -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ predicates | join(' and ') }};

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }}
{%- endmacro %}
