-- Every automated decision Steward governs: the built-in decision log (stg_decisions__ai_decisions, incremental as
-- it is) and each custom system's log (stg_custom__decisions), in the built-in log's columns plus `system` (the
-- integration that logged it). The oversight, transparency and bias marts read this, so a custom decision log is
-- judged as one more system. A custom decision's id is its key ('<system>:<id>'): two logs may reuse an id. Its
-- subject is matched to people as the built-in log's is (crm_person_id; int_customers__unified gives custom people
-- crm_person_id = coalesce(crm_person_id, person_id)).
select
    decision_id,
    crm_person_id,
    account_id,
    campaign_id,
    model_name,
    model_version,
    decision_type,
    decision,
    score,
    confidence,
    reason_codes,
    input_snapshot_id,
    is_human_reviewed,
    is_executed,
    decided_at,
    reviewed_at,
    source_system,
    _batch_id,
    source_system as system
from {{ ref('stg_decisions__ai_decisions') }}
union all
select
    decision_key,
    person_id,
    account_id,
    campaign_id,
    model_name,
    model_version,
    decision_type,
    decision,
    score,
    confidence,
    reason_codes,
    input_snapshot_id,
    is_human_reviewed,
    is_executed,
    decided_at,
    reviewed_at,
    'custom',
    _batch_id,
    system
from {{ ref('stg_custom__decisions') }}
