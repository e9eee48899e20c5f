-- One launch's panel: every unit of the launch's unit type, treated or not, on every date of
-- fct_unit_daily_metrics, with the treatment flags a difference-in-differences or a synthetic
-- control needs. The launch date is the UTC date of launched_at (an evening launch in UTC+01:00
-- can be the previous UTC date), and is_post starts on that whole day.

with

launches as (

    select * from {{ ref('stg_launches') }}

),

unit_metrics as (

    select * from {{ ref('fct_unit_daily_metrics') }}

),

-- stg_launches guarantees one launched_at and one unit_type per launch
launch_headers as (

    select distinct
        launch_id,
        unit_type,
        launched_at,
        launch_date

    from launches

),

panel as (

    select
        launch_headers.launch_id,
        launch_headers.unit_type,
        launch_headers.launched_at,
        launch_headers.launch_date,
        unit_metrics.unit,
        unit_metrics.metric_date,
        treated.treated_unit is not null as is_treated,
        unit_metrics.metric_date >= launch_headers.launch_date as is_post,
        {{ dbt.datediff('launch_headers.launch_date', 'unit_metrics.metric_date', 'day') }}
            as relative_day,
        unit_metrics.active_users,
        unit_metrics.impressions,
        unit_metrics.clicks,
        unit_metrics.saves,
        unit_metrics.revenue_usd,
        unit_metrics.ctr,
        unit_metrics.saves_per_active_user,
        unit_metrics.revenue_per_active_user

    from launch_headers
    inner join unit_metrics
        on launch_headers.unit_type = unit_metrics.unit_type
    left join launches as treated
        on
            launch_headers.launch_id = treated.launch_id
            and unit_metrics.unit = treated.treated_unit

),

final as (

    select
        cast(launch_id as {{ dbt.type_string() }}) as launch_id,
        cast(unit as {{ dbt.type_string() }}) as unit,
        cast(metric_date as date) as metric_date,
        cast(unit_type as {{ dbt.type_string() }}) as unit_type,
        launched_at,
        cast(launch_date as date) as launch_date,
        is_treated,
        is_post,
        cast(relative_day as integer) as relative_day,
        active_users,
        impressions,
        clicks,
        saves,
        revenue_usd,
        ctr,
        saves_per_active_user,
        revenue_per_active_user

    from panel

)

select * from final
