{{ config(materialized='incremental', incremental_strategy='per_key', per_key_column='email_key',
          on_schema_change='sync_all_columns', per_key_inputs=['int_people__systems'],
          pre_hook=["{{ create_change_log() }}", "{{ per_key_prepare() }}"],
          post_hook=["{{ log_full_build() }}", "{{ per_key_finish() }}", "{{ record_incremental_state() }}",
                     "{{ prune_change_log() }}"]) }}
-- One row per person (normalised email): which systems hold a record of them and the email consent each holds, as
-- bit masks of system ranks (int_people__systems.system_rank; macros/per_key_people.sql):
--   held       the systems holding a person record (0: none does, only a consent status)
--   consent    the systems holding an email consent state
--   opted_out  of those, the ones where the person opted out
--   listed     the systems with any row for the person: a record or a consent state (HubSpot's subscription statuses
--              without a contact; gov_privacy__erasure counts those as held)
-- The cross-system marts (gov_identity__match, gov_reconciliation__consent, gov_privacy__deletion_propagation)
-- judge pairs of systems per person; the privacy marts find the requested and deleted people by email_sha256. Comparing int_people__systems' rows pairwise joins every person's rows with
-- each other on every run; here each person is summed up once, so a mart only groups ~1M narrow rows by their masks
-- (a few dozen distinct values) and expands the groups into pairs. email_sha256 lets the deletion check match the
-- tombstones' hashes without hashing every person record on every run.
-- Per key (macros/per_key.sql): a person's row depends only on their int_people__systems rows, so a run recomputes
-- only the people whose rows int_people__systems rebuilt (its change log). A change of the set of custom systems
-- re-ranks them: int_people__systems then rebuilds everyone and logs it, and so does this model.
{%- set keys = per_key_keys() %}
select
    email_key,
    {{ mask_id('email_key') }} as customer_token,
    {{ sha256_hex('email_key') }} as email_sha256,
    bit_or(case when records > 0 then {{ rank_bit('system_rank') }} else 0 end) as held,
    bit_or(case when is_email_opted_out is not null then {{ rank_bit('system_rank') }} else 0 end) as consent,
    bit_or(case when is_email_opted_out then {{ rank_bit('system_rank') }} else 0 end) as opted_out,
    bit_or({{ rank_bit('system_rank') }}) as listed
from {{ ref('int_people__systems') }}
where {{ per_key_match('email_key', keys) }}
group by email_key
