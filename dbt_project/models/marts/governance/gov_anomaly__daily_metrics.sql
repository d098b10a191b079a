-- Each watched daily series (int_metrics__daily) against its own history. Every day of the last
-- `anomaly_detection_days` is compared with the same weekday in the `anomaly_baseline_weeks` weeks before it:
--   robust_z = (value - median) / scale
--   scale    = max(1.4826 x MAD, anomaly_min_relative_scale x |median|, anomaly_min_scale[metric])
-- MAD is the median absolute deviation of those baseline days from their median: 1.4826 x MAD estimates a standard
-- deviation that one odd week cannot inflate. The two floors keep a flat history (MAD = 0) from turning any change
-- into an infinite z. A value equal to the median scores 0; a day without baseline or value scores nothing.
-- One row per series: its judged day with the largest |z| (the latest on ties), with that day's baseline.
{%- set weeks = var('anomaly_baseline_weeks') %}
{%- set days = var('anomaly_detection_days') %}
{%- set floors = var('anomaly_min_scale') %}
with series as (
    select * from {{ ref('int_metrics__daily') }}
),

judged as (
    select *
    from series
    where day <= {{ as_of_date() }} - (case when judge_today then 0 else 1 end)
      and day > {{ as_of_date() }} - {{ days }} - (case when judge_today then 0 else 1 end)
),

baseline as (
    select judged.metric, judged.subject_id, judged.day, weeks.n as weeks_back, history.value as base_value
    from judged
    cross join ({{ integers(1, weeks) }}) as weeks
    inner join series as history
        on history.metric = judged.metric
       and history.subject_id = judged.subject_id
       and history.day = judged.day - 7 * weeks.n
    where history.value is not null
),

medians as (
    select
        metric, subject_id, day,
        count(*) as baseline_n,
        {{ quantile('base_value', 0.5) }} as baseline_median,
        {{ ordered_array('base_value', 'weeks_back desc') }} as baseline_values
    from baseline
    group by metric, subject_id, day
),

spread as (
    select
        baseline.metric, baseline.subject_id, baseline.day,
        {{ quantile('abs(baseline.base_value - medians.baseline_median)', 0.5) }} as baseline_mad
    from baseline
    inner join medians
        on medians.metric = baseline.metric and medians.subject_id = baseline.subject_id
       and medians.day = baseline.day
    group by baseline.metric, baseline.subject_id, baseline.day
),

scored as (
    select
        judged.*,
        coalesce(medians.baseline_n, 0) as baseline_n,
        medians.baseline_median,
        medians.baseline_values,
        spread.baseline_mad,
        greatest(
            coalesce(1.4826 * spread.baseline_mad, 0),
            coalesce({{ var('anomaly_min_relative_scale') }} * abs(medians.baseline_median), 0),
            case judged.metric
                {%- for metric, floor in floors.items() %}
                when '{{ metric }}' then {{ floor }}
                {%- endfor %}
                else 0
            end) as scale
    from judged
    left join medians
        on medians.metric = judged.metric and medians.subject_id = judged.subject_id and medians.day = judged.day
    left join spread
        on spread.metric = judged.metric and spread.subject_id = judged.subject_id and spread.day = judged.day
),

z as (
    select
        scored.*,
        case
            when value is null or baseline_n = 0 then null
            when value = baseline_median then 0.0
            else (value - baseline_median) / nullif(scale, 0)
        end as robust_z
    from scored
),

ranked as (
    select
        z.*,
        row_number() over (partition by metric, subject_id order by abs(robust_z) desc nulls last, day desc) as pick,
        array_agg(value) over (partition by metric, subject_id order by day
                               rows between unbounded preceding and unbounded following) as detection_values
    from z
)

select
    metric || '|' || subject_id as series_id,
    metric,
    subject_id,
    subject_name,
    subject_key,
    subject_label,
    campaign_id,
    cast(day as {{ text_type() }}) as anomaly_day,
    value,
    baseline_n,
    baseline_median,
    baseline_mad,
    scale,
    robust_z,
    abs(robust_z) as abs_robust_z,
    value / nullif(baseline_median, 0) as ratio_to_baseline,
    baseline_values,
    detection_values,
    control_platform,
    control_campaign_id
from ranked
where pick = 1
