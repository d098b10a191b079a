-- How long human reviews take per model version: hours from decided_at to reviewed_at over every reviewed decision
-- with a review time (median, 90th percentile with linear interpolation, maximum). A review queue that falls behind
-- shows in the p90 long before the median moves.
select
    model_name,
    model_version,
    count(*) as reviewed,
    count(*) filter (where review_rule is not null) as reviewed_requiring_review,
    {{ quantile('review_hours', 0.5) }} as latency_median_hours,
    {{ quantile('review_hours', 0.9) }} as latency_p90_hours,
    max(review_hours) as latency_max_hours
from {{ ref('int_decisions__review_rules') }}
where review_hours is not null
group by model_name, model_version
