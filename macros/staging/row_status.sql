{#- Every raw row's fate: staged, rejected (with a reason) or a removed duplicate delivery. -#}
{% macro row_status(reject_reason, delivery_rank) -%}
    case
        when {{ reject_reason }} is not null then 'rejected'
        when {{ delivery_rank }} = 1 then 'staged'
        else 'duplicate'
    end
{%- endmacro %}
