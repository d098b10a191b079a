with source as (
    {{ latest_records(source('custom', 'decisions'), 'decision_id') }}
)

select
    _integration || ':' || decision_id as decision_key,
    _integration as system,
    decision_id,
    subject_id as person_id,
    account_id,
    campaign_id,
    model_name,
    model_version,
    decision_type,
    decision,
    score,
    confidence,
    nullif(trim(reason_codes), '') as reason_codes,
    nullif(trim(input_snapshot_id), '') as input_snapshot_id,
    human_reviewed as is_human_reviewed,
    executed as is_executed,
    decided_at,
    reviewed_at,
    _batch_id
from source
