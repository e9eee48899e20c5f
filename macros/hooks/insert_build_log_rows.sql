{#- Append rows (dicts with node, node_path, status) for this invocation to the build log. -#}
{% macro insert_build_log_rows(rows) -%}
    {%- set now = modules.datetime.datetime.now(modules.pytz.utc) -%}
    {%- set stamp = "cast('{}' as " ~ dbt.type_timestamp() ~ ")" -%}
    {%- set values = [] -%}
    {%- for row in rows -%}
        {%- set path = "null" if row.node_path is none
            else "'" ~ (row.node_path | replace("'", "''")) ~ "'" -%}
        {%- do values.append(
            "('" ~ invocation_id ~ "', '" ~ flags.WHICH ~ "', "
            ~ stamp.format(run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f')) ~ ", "
            ~ stamp.format(now.strftime('%Y-%m-%d %H:%M:%S.%f')) ~ ", '"
            ~ (row.node | replace("'", "''")) ~ "', " ~ path ~ ", '" ~ row.status ~ "')"
        ) -%}
    {%- endfor -%}
    {%- do run_query(
        'insert into ' ~ metricbook.build_log_relation()
        ~ ' (invocation_id, command, started_at, logged_at, node, node_path, status) values '
        ~ values | join(', ')
    ) -%}
{%- endmacro %}
