{#-
    to_utc_timestamp inside the plausible-time window (plausible_time_window.sql), else NULL;
    timestamp_reject_reason then says why. `allow_future` is for planned instants (an
    experiment's end), which may lie after the build.
-#}
{% macro plausible_utc_timestamp(column, allow_future=false) -%}
    {%- set parsed = metricbook.to_utc_timestamp(column) -%}
    case
        when ({{ parsed }}) >= {{ metricbook.timestamp_floor() }}
            {%- if not allow_future %}
            and ({{ parsed }}) <= {{ metricbook.timestamp_ceiling() }}
            {%- endif %}
            then ({{ parsed }})
    end
{%- endmacro %}
