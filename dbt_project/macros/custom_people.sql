{# A `platform: custom` system's people-grain facts, shared by the cross-system people models and the consent and
   privacy marts (the marts keep no ref to an intermediate model so their property tests can run their SQL alone).
   Rows name their system (the integration's name, stg_custom__*.system) and the person's normalised email. #}

{# Consent events with the person's email: an event that names only the system's person id takes the email of that
   person's record in the same system (an equi-join on system and person id). #}
{% macro custom_consent_events(channel) -%}
    select
        events.system,
        coalesce(events.email_key, people.email_key) as email_key,
        events.event_id,
        events.is_withdrawn,
        events.occurred_at
    from {{ ref('stg_custom__consent_events') }} as events
    left join {{ ref('stg_custom__people') }} as people
        on people.system = events.system and people.person_id = events.person_id
    where events.channel = '{{ channel }}'
{%- endmacro %}

{# The latest consent event of one channel per system and person, whatever its purpose: the consent the system holds
   now for that channel (is_withdrawn; changed_at is when it was last given or withdrawn). #}
{% macro custom_latest_consent(channel) -%}
    {{ first_row_per("select system, email_key, is_withdrawn, occurred_at as changed_at, event_id from ("
                     ~ custom_consent_events(channel) ~ ") as channel_events where email_key is not null",
                     'system, email_key', 'changed_at desc nulls last, event_id desc') }}
{%- endmacro %}

{# The email consent each custom system holds per person, from its people records (email_opt_out, opted_out_at) and
   its email consent events. The newer of the two wins: the record's flag is dated by opted_out_at, else by the
   record's last change; the latest event by its own time. An event also stands alone, for people the system keeps
   no record of (records = 0, as HubSpot's subscription statuses). Columns:
     system, email_key, records, is_email_opted_out (null: no consent held), opted_out_at (when, or a lower bound of
     its age), consent_changed_at (the latest dated consent change). #}
{% macro custom_email_consent() -%}
    with latest as (
        {{ custom_latest_consent('email') }}
    ),

    flags as (
        select system, email_key, count(*) as records,
               bool_or(is_email_opted_out) as is_opted_out,
               max(opted_out_at) as opted_out_at,
               coalesce(max(opted_out_at), max(updated_at)) as flag_at
        from {{ ref('stg_custom__people') }}
        where email_key is not null
        group by system, email_key
    ),

    -- the record's flag stands unless the latest event is newer (or the record holds no flag)
    people as (
        select
            flags.*,
            flags.is_opted_out is not null
                and (latest.changed_at is null or not coalesce(latest.changed_at > flags.flag_at, false))
                as is_flag_newer
        from flags
        left join latest on latest.system = flags.system and latest.email_key = flags.email_key
    )

    select
        coalesce(people.system, latest.system) as system,
        coalesce(people.email_key, latest.email_key) as email_key,
        coalesce(people.records, 0) as records,
        case when people.is_flag_newer then people.is_opted_out else latest.is_withdrawn end as is_email_opted_out,
        case when people.is_flag_newer then case when people.is_opted_out then people.flag_at end
             when latest.is_withdrawn then latest.changed_at end as opted_out_at,
        case when latest.changed_at is null then people.opted_out_at
             when people.opted_out_at is null or latest.changed_at > people.opted_out_at then latest.changed_at
             else people.opted_out_at end as consent_changed_at
    from people
    full outer join latest on latest.system = people.system and latest.email_key = people.email_key
{%- endmacro %}

{# A custom system's contacts (its touches, any channel) with the person's email, resolved through the system's
   people records when a touch names only a person id. #}
{% macro custom_touches() -%}
    select
        touches.system,
        coalesce(touches.email_key, people.email_key) as email_key,
        touches.channel,
        touches.touched_at
    from {{ ref('stg_custom__touches') }} as touches
    left join {{ ref('stg_custom__people') }} as people
        on people.system = touches.system and people.person_id = touches.person_id
{%- endmacro %}
