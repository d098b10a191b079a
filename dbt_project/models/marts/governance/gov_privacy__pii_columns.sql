-- Data minimisation: every table holding personal data, from the catalogue scan in ledger.pii_columns
-- (integrations/warehouse/pii_scan.py), against the schema.table globs policy allows to hold it (`pii_allowed_tables`).
-- A column is PII when its name says so, or when at least `pii_min_match_share` of its sampled values look like it.
{%- set min_share = var('pii_min_match_share') %}
with columns as (
    select
        *,
        values_sampled > 0
            and cast(values_matching as {{ float_type() }}) / values_sampled >= {{ min_share }} as is_pii_by_content
    from {{ ref('stg_steward__pii_columns') }}
),

pii as (
    select
        table_schema,
        table_name,
        column_name,
        coalesce(name_kind, content_kind) as pii_kind,
        case
            when name_kind is not null and is_pii_by_content then 'name+content'
            when name_kind is not null then 'name'
            else 'content'
        end as detected_by,
        values_sampled,
        scanned_at
    from columns
    where name_kind is not null or is_pii_by_content
),

tables as (
    select
        table_schema,
        table_name,
        table_schema || '.' || table_name as table_ref,
        count(*) as pii_columns,
        {{ string_list("column_name || ' (' || pii_kind || ', by ' || detected_by || ')'", '; ', 'column_name') }}
            as columns_found,
        {{ string_list('pii_kind', ', ', distinct=true) }} as pii_kinds,
        max(values_sampled) as values_sampled,
        max(scanned_at) as scanned_at
    from pii
    group by table_schema, table_name
)

select
    table_ref,
    table_schema,
    table_name,
    pii_columns,
    pii_kinds,
    columns_found,
    values_sampled,
    {{ matches_any_glob('lower(table_ref)', var('pii_allowed_tables')) }} as is_allowed,
    case when {{ matches_any_glob('lower(table_ref)', var('pii_allowed_tables')) }} then 0 else pii_columns end
        as pii_columns_not_allowed,
    scanned_at
from tables
