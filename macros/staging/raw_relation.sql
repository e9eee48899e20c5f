{#-
    The one switch between the shipped seeds and a user's own raw tables.
    var('raw_source') = 'seeds'     -> ref('raw_<name>'): dbt orders the seed before staging.
    var('raw_source') = 'warehouse' -> source('raw', 'raw_<name>'): database and schema come from
                                       vars raw_database / raw_schema (see _raw__sources.yml).
    var('raw_source') = 'parquet'   -> the Parquet files under var raw_parquet_dir, one directory
                                       per table (what `metricbook generate` writes); read in place.
-#}
{% macro raw_relation(table_name) %}
    {%- set mode = var('raw_source') -%}
    {%- if mode == 'seeds' -%}
        {{ return(ref(table_name)) }}
    {%- elif mode == 'warehouse' -%}
        {{ return(source('raw', table_name)) }}
    {%- elif mode == 'parquet' -%}
        {{ return(metricbook.parquet_relation(var('raw_parquet_dir') ~ '/' ~ table_name)) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "var raw_source must be 'seeds', 'warehouse' or 'parquet', got '" ~ mode ~ "'"
        ) }}
    {%- endif -%}
{% endmacro %}
