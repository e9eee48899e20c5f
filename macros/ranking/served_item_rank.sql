{#-
    The rank of a served item in its request's served order (the pseudo-model 'logged'): feed
    position ascending, 1-based, so gaps in the positions do not discount the items after
    them. One place for int_logged_request_ranking_metrics and int_ranked_request_items.
-#}
{% macro served_item_rank() -%}
    row_number() over (partition by request_id order by feed_position)
{%- endmacro %}
