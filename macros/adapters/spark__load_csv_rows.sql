{#-
    Seeds on Spark, with NULLs that stay NULL. dbt-spark's session cursor pastes each binding
    into the SQL as '{value}', so an empty CSV field (None) arrives as the 4-letter string
    'None', and a row that staging must reject for a missing value is staged instead. This
    writes the same INSERT ... VALUES with literals rendered here: NULL for None, otherwise a
    quoted string with backslashes and quotes escaped (Spark's string literals use backslash
    escapes). Selected through the `dispatch` search order in dbt_project.yml.
-#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for value in row -%}
                    {%- set column_name = agate_table.column_names[loop.index0] -%}
                    {%- set column_type = column_override.get(
                        column_name, adapter.convert_type(agate_table, loop.index0)) -%}
                    cast({{ metricbook.spark_seed_literal(value) }} as {{ column_type }})
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{% endmacro %}

{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        '{{ (value | string).replace("\\", "\\\\").replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}
