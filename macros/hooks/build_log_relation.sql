{#-
    Where every dbt invocation records what it built: `metricbook analyze` reads this table to
    refuse marts that a failed, killed or partial build left behind (README, "Stale marts").
    Columns: invocation_id, command, started_at, logged_at (UTC), node (a model name, or
    '__invocation__'), node_path, status ('started', then 'success' | 'error'; per model dbt's
    success | error | skipped).
-#}
{% macro build_log_relation() -%}
    {{ return(api.Relation.create(
        database=target.database if target.type != 'spark' else none,
        schema=target.schema,
        identifier='metricbook_build_log')) }}
{%- endmacro %}
