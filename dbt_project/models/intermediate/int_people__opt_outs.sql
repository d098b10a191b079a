-- Each email opt-out made in a system people opt out in (int_people__systems.is_consent_origin), against every other
-- system holding a record of the person: whether that target agrees (is_seen), or changed the person's consent again
-- after the origin did (is_superseded). The self-join over every person does not depend on the run's time (as_of),
-- so it is a table a run with no new people keeps; gov_timeliness__propagation only ages these changes against as_of.
{{ config(materialized='table') }}
with people as (
    select * from {{ ref('int_people__systems') }}
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
