{#-
    The dedupe order of raw_events, in one place for the ledger (base_events, all deliveries)
    and the incremental path of stg_events (recent deliveries and earlier winners): earliest
    UTC time first, then the raw text and every other column (see delivery_rank).
-#}
{% macro rank_event_deliveries() -%}
    {{ delivery_rank(
        partition_by=['event_id'],
        order_by=['event_at', 'event_at_text', 'user_id', 'pin_id', 'request_id', 'event_type',
                  'surface', 'position_text'],
        is_valid='reject_reason is null'
    ) }}
{%- endmacro %}
