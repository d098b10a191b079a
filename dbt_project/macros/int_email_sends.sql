{# int_email_sends__addressed is incremental on the email events' batches (see the model). These two macros keep it
   equal to a full build: a pre-hook forgets the rows a run replaces, and the model reads them again. #}

{# The marketing emails whose CRM campaign is not the one the table's sends of them were built with (the campaign
   changed, the email appeared or left): their sends are read again whole. A quoted list for `in (...)`, or '' when
   there is none (every day but the one a marketing email moves campaign). The emails and campaigns the table was
   built with are kept beside it, `<model>__campaigns` (record_campaigns): every row a build writes takes its
   campaign from the emails as they are then, and the rows of an email whose campaign differs are written again, so
   every row agrees with that snapshot. Without it (a table built before it existed) the table's own pairs are
   compared, a scan of two columns of the sends. #}
{% macro emails_whose_campaign_changed() -%}
    {%- if not execute or not reads_only_new_batches() -%}{{ return('') }}{%- endif -%}
    {%- set snapshot = adapter.get_relation(database=this.database, schema=this.schema,
                                            identifier=this.identifier ~ '__campaigns') -%}
    {%- set built -%}
        {%- if snapshot is not none -%}
        select marketing_email_id, campaign_id from {{ snapshot }}
        {%- else -%}
        select distinct marketing_email_id, campaign_id from {{ this }} where marketing_email_id is not null
        {%- endif -%}
    {%- endset -%}
    {%- set found = run_query(
        "select distinct coalesce(built.marketing_email_id, emails.marketing_email_id) from (" ~ built ~ ") as built "
        ~ "full outer join " ~ ref('stg_hubspot__marketing_emails') ~ " as emails "
        ~ "on emails.marketing_email_id = built.marketing_email_id "
        ~ "where built.campaign_id is distinct from emails.campaign_id order by 1") -%}
    {%- set ids = [] -%}
    {%- for row in found.rows if row[0] is not none -%}
    {%- do ids.append("'" ~ (row[0] | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {{ return(ids | join(', ')) }}
{%- endmacro %}

{# Post-hook: the marketing emails and campaigns this build wrote the sends with (see above). #}
{% macro record_campaigns() -%}
    {%- set snapshot = api.Relation.create(database=this.database, schema=this.schema,
                                           identifier=this.identifier ~ '__campaigns') -%}
    {%- do run_query("drop table if exists " ~ snapshot) -%}
    create table {{ snapshot }} as
    select marketing_email_id, campaign_id from {{ ref('stg_hubspot__marketing_emails') }}
{%- endmacro %}

{# Pre-hook, one `part` per statement. Outside an incremental build that reads only new batches, the first part
   (listed first: it must see the table as the model's SQL did) empties the table, which is then read again whole
   (first build, `--full-refresh`, its SQL or that of the events it reads changed), and the others do nothing.
     recampaigned  the sends of marketing emails whose campaign changed
     new           the sends of the new events' keys: an event landed again replaces its row (or leaves, if it is no
                   longer a send)
     custom        every custom system's send: they are read again whole, as custom touches are rebuilt every run #}
{% macro forget_sends_to_replace(part) -%}
    {%- if not is_incremental() -%}
    {#- nothing: dbt runs no hook that renders empty (a `select 1` here cost a statement per hook and build) -#}
    {%- elif not reads_only_new_batches() -%}
    {%- if part == 'recampaigned' -%}delete from {{ this }}{%- endif -%}
    {%- elif part == 'new' -%}
    delete from {{ this }}
    where send_key in (
        select 'hubspot:' || events.email_event_id
        from {{ ref('stg_hubspot__email_events') }} as events
        where {{ unread_batches(ref('stg_hubspot__email_events'), read_batches_of(ref('stg_hubspot__email_events'))) }}
    )
    {%- elif part == 'custom' -%}
    delete from {{ this }} where send_key like 'custom:%'
    {%- else -%}
    {%- set recampaigned = emails_whose_campaign_changed() -%}
    {%- if recampaigned -%}
    delete from {{ this }} where marketing_email_id in ({{ recampaigned }})
    {%- endif -%}
    {%- endif -%}
{%- endmacro %}
