{#- A rate: every non-NULL value lies in [0, 1]. Fails with the offending rows. -#}
{% test between_zero_and_one(model, column_name) %}

select * from {{ model }}
where {{ column_name }} < 0 or {{ column_name }} > 1

{% endtest %}
