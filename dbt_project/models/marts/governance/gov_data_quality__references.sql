-- References inside one platform that point nowhere: a contact's account, an opportunity's campaign, a campaign
-- member's contact, an email event's marketing email, a Marketo activity's lead. A dangling reference drops the
-- record out of every join built on it (a won deal with no campaign earns the campaign nothing; a send with no email
-- has no campaign to pause). One row per kind of reference; the list below is the data, a platform adds its own.
-- A reference is judged only once its target entity holds rows (an entity not pulled yet breaks nothing). A target
-- the platform reported deleted (ledger.tombstones) is counted apart: Marketo keeps no activities of a deleted lead,
-- but Steward keeps the ones it landed before, so those are history, not a broken sync.
-- (Links from one platform to another, e.g. HubSpot's Salesforce contact id, are gov_identity__links'.)
{%- set references = [
    ('salesforce.contacts.AccountId', 'salesforce', 'stg_salesforce__contacts', 'contact_id', 'account_id',
     'accounts', 'stg_salesforce__accounts', 'account_id'),
    ('salesforce.opportunities.AccountId', 'salesforce', 'stg_salesforce__opportunities', 'opportunity_id',
     'account_id', 'accounts', 'stg_salesforce__accounts', 'account_id'),
    ('salesforce.opportunities.CampaignId', 'salesforce', 'stg_salesforce__opportunities', 'opportunity_id',
     'campaign_id', 'campaigns', 'stg_salesforce__campaigns', 'campaign_id'),
    ('salesforce.campaign_members.CampaignId', 'salesforce', 'stg_salesforce__campaign_members',
     'campaign_member_id', 'campaign_id', 'campaigns', 'stg_salesforce__campaigns', 'campaign_id'),
    ('salesforce.campaign_members.ContactId', 'salesforce', 'stg_salesforce__campaign_members',
     'campaign_member_id', 'contact_id', 'contacts', 'stg_salesforce__contacts', 'contact_id'),
    ('salesforce.campaign_members.LeadId', 'salesforce', 'stg_salesforce__campaign_members',
     'campaign_member_id', 'lead_id', 'leads', 'stg_salesforce__leads', 'lead_id'),
    ('hubspot.email_events.emailCampaignId', 'hubspot', 'stg_hubspot__email_events', 'email_event_id',
     'marketing_email_id', 'marketing_emails', 'stg_hubspot__marketing_emails', 'marketing_email_id'),
    ('marketo.activities.leadId', 'marketo', 'stg_marketo__activities', 'activity_id', 'marketo_lead_id',
     'leads', 'stg_marketo__leads', 'marketo_lead_id'),
    ('marketo.activities.campaignId', 'marketo', 'stg_marketo__activities', 'activity_id', 'smart_campaign_id',
     'smart_campaigns', 'stg_marketo__smart_campaigns', 'smart_campaign_id'),
] %}
with owners as (
    -- the referring entity's contract owner, as its newest batch recorded it: the team that can fix the data
    select platform, entity, owner
    from ({{ first_row_per('select platform, entity, owner, loaded_at, batch_id from ' ~ ref('stg_steward__batches'),
                           'platform, entity', 'loaded_at desc, batch_id desc') }}) as newest
),

deleted as (
    select distinct platform, entity, record_id
    from {{ ref('stg_steward__tombstones') }}
),

-- Each reference is judged per referenced value, not per referring row: the referring column is grouped first (10M
-- email events name a handful of marketing emails), and only the few distinct values meet the target and the
-- tombstones. The referring rows themselves are read again only for a value that is broken, to name examples.
values_judged as (
    {%- for reference, platform, model, key, column, target, target_model, target_key in references %}
    select
        '{{ reference }}' as reference,
        '{{ platform }}' as platform,
        '{{ target }}' as target_entity,
        cast(referring.value as {{ text_type() }}) as value,
        referring.refs,
        target.{{ target_key }} is null and deleted.record_id is null as is_broken,
        target.{{ target_key }} is null and deleted.record_id is not null as is_to_deleted
    from (
        select {{ column }} as value, count(*) as refs
        from {{ ref(model) }}
        where {{ column }} is not null
        group by {{ column }}
    ) as referring
    left join {{ ref(target_model) }} as target on target.{{ target_key }} = referring.value
    left join deleted
        on deleted.platform = '{{ platform }}' and deleted.entity = '{{ target }}'
       and deleted.record_id = cast(referring.value as {{ text_type() }})
    where exists (select 1 from {{ ref(target_model) }})
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

-- the referring records of the broken values (none on a healthy day: the join then has nothing to match)
broken_records as (
    {%- for reference, platform, model, key, column, target, target_model, target_key in references %}
    select '{{ reference }}' as reference, {{ mask_id('referring.' ~ key) }} as record_token
    from {{ ref(model) }} as referring
    inner join values_judged as broken
        on broken.reference = '{{ reference }}' and broken.is_broken
       and broken.value = cast(referring.{{ column }} as {{ text_type() }})
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

examples as (
    select reference, {{ example_ids('record_token') }} as example_ids
    from broken_records
    group by reference
),

judged as (
    select
        reference,
        platform,
        target_entity,
        cast(sum(refs) as bigint) as references_made,
        cast(coalesce(sum(case when is_broken then refs end), 0) as bigint) as broken_references,
        cast(coalesce(sum(case when is_to_deleted then refs end), 0) as bigint) as references_to_deleted
    from values_judged
    group by reference, platform, target_entity
)

select
    judged.reference,
    judged.platform,
    split_part(judged.reference, '.', 2) as entity,
    judged.target_entity,
    owners.owner,
    judged.references_made,
    judged.broken_references,
    judged.references_to_deleted,
    cast(judged.broken_references as {{ float_type() }}) / judged.references_made as broken_rate,
    coalesce(examples.example_ids, {{ empty_text_array() }}) as example_ids
from judged
left join examples on examples.reference = judged.reference
left join owners
    on owners.platform = judged.platform and owners.entity = split_part(judged.reference, '.', 2)
