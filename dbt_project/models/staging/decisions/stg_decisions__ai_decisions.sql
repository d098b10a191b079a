{{ config(materialized='incremental', unique_key='decision_id', incremental_strategy='delete+insert',
          on_schema_change='sync_all_columns',
          post_hook=["{{ delete_tombstoned('decision_id', 'ai_decisions', source('decisions', 'ai_decisions'),
                                        'r.decision_id') }}",
                     "{{ record_read_batches(source('decisions', 'ai_decisions')) }}",
                     "{{ record_incremental_state() }}"]) }}
-- Incremental: each run reads only the batches landed since the last build (macros/incremental_events.sql).
with source as (
    {{ latest_records_since(source('decisions', 'ai_decisions'), 'decision_id') }}
),

renamed as (
    select
        -- ids
        decision_id,
        subject_id as crm_person_id,
        account_id,
        campaign_id,
        -- attributes
        model_name,
        model_version,
        decision_type,
        decision,
        score,
        confidence,
        nullif(trim(reason_codes), '') as reason_codes,
        nullif(trim(input_snapshot_id), '') as input_snapshot_id,
        -- booleans
        human_reviewed as is_human_reviewed,
        executed as is_executed,
        -- timestamps
        decided_at,
        reviewed_at,
        'decisions' as source_system,
        _batch_id
    from source
)

select * from renamed
