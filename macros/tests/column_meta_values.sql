{#- A model's columns whose YAML meta (`config: {meta: ...}`, or a bare `meta:`) has `key`, as
    [column name, meta value] pairs in declared order, for singular tests that read a flag
    instead of repeating a column list. Parsing has no graph: `stand_in` is returned then. A
    model that declares no such column is a compile error naming the model and the key. -#}
{% macro column_meta_values(model_name, key, stand_in) %}
    {%- if not execute %}
        {{- return(stand_in) }}
    {%- endif %}
    {%- set found = [] %}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.name == model_name %}
        {%- for column in node.columns.values() %}
            {%- set meta = column.get('config', {}).get('meta', {}) or column.get('meta', {}) %}
            {%- if meta.get(key) is not none %}
                {%- do found.append([column.name, meta.get(key)]) %}
            {%- endif %}
        {%- endfor %}
    {%- endfor %}
    {%- if not found %}
        {{- exceptions.raise_compiler_error(
            model_name ~ " declares no column with meta: {" ~ key ~ ": ...}"
        ) }}
    {%- endif %}
    {{- return(found) }}
{% endmacro %}
