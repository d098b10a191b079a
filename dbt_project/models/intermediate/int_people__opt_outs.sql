-- Each email opt-out made in a system people opt out in (int_people__systems.is_consent_origin), against every other
-- system holding a record of the person: whether that target agrees (is_seen), or changed the person's consent again
-- after the origin did (is_superseded). The self-join over every person does not depend on the run's time (as_of),
-- so it is a table a run with no new people keeps; gov_timeliness__propagation only ages these changes against as_of.
{{ config(materialized='incremental', incremental_strategy='per_key', per_key_column='customer_token',
          on_schema_change='sync_all_columns', per_key_inputs=['int_people__systems'],
          pre_hook=["{{ create_change_log() }}", "{{ per_key_prepare() }}"],
          post_hook=["{{ log_full_build() }}", "{{ per_key_finish() }}", "{{ record_incremental_state() }}",
                     "{{ prune_change_log() }}"]) }}
-- Per key (macros/per_key.sql): an opt-out pairs two rows of one person (email_key), so a run recomputes only the
-- people whose int_people__systems rows it rebuilt (its change log), deleting their rows by customer_token.
{%- set keys = per_key_keys() %}
with people as (
    select * from {{ ref('int_people__systems') }}
    where {{ per_key_match('email_key', keys) }}
)

select
    'email_opt_out' as change,
    origin.system as origin,
    target.system as target,
    origin.customer_token,
    origin.opted_out_at as changed_at,
    coalesce(target.is_email_opted_out, false) as is_seen,
    not coalesce(target.is_email_opted_out, false)
        and coalesce(target.consent_changed_at > origin.opted_out_at, false) as is_superseded
from people as origin
inner join people as target on target.email_key = origin.email_key and target.system <> origin.system
where origin.is_consent_origin and origin.is_email_opted_out and target.records > 0
