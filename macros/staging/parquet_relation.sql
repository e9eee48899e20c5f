{#-
    A directory of Parquet files as a relation, for raw_source = 'parquet'. Only engines that
    query files in place have it; elsewhere load the files into tables and use 'warehouse'.
-#}
{% macro parquet_relation(directory) -%}
    {{ return(adapter.dispatch('parquet_relation', 'metricbook')(directory)) }}
{%- endmacro %}

{% macro default__parquet_relation(directory) -%}
    {{ exceptions.raise_compiler_error(
        "raw_source 'parquet' reads files in place, which " ~ target.type ~ " cannot do: load "
        ~ directory ~ " into tables and use raw_source 'warehouse'") }}
{%- endmacro %}

{#-
    DuckDB: a table function; union_by_name tolerates files written with columns reordered. The
    path is a user's var: quotes are doubled so it stays one string literal.
-#}
{% macro duckdb__parquet_relation(directory) -%}
    read_parquet('{{ directory | replace("'", "''") }}/*.parquet', union_by_name = true)
{%- endmacro %}

{#- Spark: the parquet.`path` data source (a directory is read as one table). -#}
{% macro spark__parquet_relation(directory) -%}
    parquet.`{{ directory | replace('`', '``') }}`
{%- endmacro %}
