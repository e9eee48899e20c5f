{#-
    on-run-end: one row per model this invocation touched, with dbt's status, and the
    invocation's own verdict: 'error' when any node errored or any test failed ('warn' is not a
    failure: excluded experiments are reported that way on purpose).
-#}
{% macro log_build_end(results) -%}
    {#- a freshness check builds nothing: it must not read as a failed build -#}
    {%- if execute and flags.WHICH != 'freshness' -%}
        {%- set rows = [] -%}
        {%- set failed = [] -%}
        {%- for result in results -%}
            {%- if result.status in ('error', 'fail', 'runtime error') -%}
                {%- do failed.append(result.node.name) -%}
            {%- endif -%}
            {%- if result.node.resource_type == 'model' -%}
                {%- do rows.append({
                    'node': result.node.name,
                    'node_path': result.node.original_file_path,
                    'status': result.status | string
                }) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do rows.append({
            'node': '__invocation__',
            'node_path': none,
            'status': 'error' if failed else 'success'
        }) -%}
        {%- do metricbook.insert_build_log_rows(rows) -%}
    {%- endif -%}
{%- endmacro %}
