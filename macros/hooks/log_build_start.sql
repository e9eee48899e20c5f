{#-
    on-run-start: create the build log if needed and record that this invocation began. A build
    that is killed never writes its end row, which is how `analyze` tells it from a finished one.
-#}
{% macro log_build_start() -%}
    {#- a freshness check builds nothing: it must not read as a failed build -#}
    {%- if execute and flags.WHICH != 'freshness' -%}
        {%- set log = metricbook.build_log_relation() -%}
        {%- do adapter.create_schema(log) -%}
        {%- do run_query(
            'create table if not exists ' ~ log ~ ' ('
            ~ 'invocation_id ' ~ dbt.type_string() ~ ', command ' ~ dbt.type_string()
            ~ ', started_at ' ~ dbt.type_timestamp() ~ ', logged_at ' ~ dbt.type_timestamp()
            ~ ', node ' ~ dbt.type_string() ~ ', node_path ' ~ dbt.type_string()
            ~ ', status ' ~ dbt.type_string() ~ ')'
        ) -%}
        {%- do metricbook.insert_build_log_rows([
            {'node': '__invocation__', 'node_path': none, 'status': 'started'}
        ]) -%}
    {%- endif -%}
{%- endmacro %}
