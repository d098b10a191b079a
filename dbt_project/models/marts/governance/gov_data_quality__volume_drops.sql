-- Export entities whose newest reading read far fewer rows than the same entity's previous readings: a truncated or
-- partial export file (data_quality.volume_drop, docs/policy.md). Only batches read from an export file are judged:
-- each holds the whole entity (a full snapshot), so their row counts compare like with like. API and synced-table
-- batches are incremental (only what changed since the watermark) and are left out; their source is a URL or a
-- `<connection>#<schema.table>` name, an export's is a file path. An integration configured with `delivery: delta`
-- sends only each day's new and changed rows, so its files are left out too. One row per entity with at least one earlier
-- snapshot: volume_drop = 1 - rows_read / median(rows_read of the `volume_baseline_batches` snapshots before it),
-- 0 when the newest batch is not smaller.
{%- set baseline_batches = var('volume_baseline_batches') %}
with export_batches as (
    select integration, entity, coalesce(run_id, batch_id) as reading_id, batch_id, owner, rows_read, loaded_at,
           batch_source
    from {{ ref('stg_steward__batches') }}
    where batch_source not like '%://%' and batch_source not like '%#%' and coalesce(delivery, 'snapshot') <> 'delta'
),

-- An export longer than `batch_rows` lands as several batches in one run: one reading of one file is one snapshot,
-- its rows the sum of its batches (a batch of it names the reading).
readings as (
    select
        integration,
        entity,
        max(batch_id) as batch_id,
        max(owner) as owner,
        {{ integer_sum('rows_read') }} as rows_read,
        max(loaded_at) as loaded_at
    from export_batches
    group by integration, entity, reading_id, batch_source
),

snapshots as (
    select
        *,
        row_number() over (partition by integration, entity order by loaded_at desc, batch_id desc) as recency
    from readings
),

baseline as (
    select
        integration,
        entity,
        count(*) as baseline_batches,
        {{ quantile('rows_read', 0.5) }} as baseline_rows,
        {{ ordered_array('rows_read', 'recency') }} as baseline_values
    from snapshots
    where recency between 2 and {{ baseline_batches + 1 }}
    group by integration, entity
)

select
    latest.integration,
    latest.entity,
    latest.batch_id,
    latest.owner,
    latest.rows_read,
    baseline.baseline_rows,
    baseline.baseline_batches,
    baseline.baseline_values,
    case
        when baseline.baseline_rows > 0 and latest.rows_read < baseline.baseline_rows
            then 1 - latest.rows_read / baseline.baseline_rows
        else 0
    end as volume_drop,
    latest.loaded_at
from snapshots as latest
inner join baseline
    on baseline.integration = latest.integration and baseline.entity = latest.entity
where latest.recency = 1
