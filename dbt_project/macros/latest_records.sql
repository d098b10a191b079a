{# Raw tables are append-only (one batch per pull); staging reads the newest version of each record of each
   integration (two integrations of one platform, e.g. two Salesforce orgs, share a raw table). #}
{% macro latest_records(relation, key) -%}
    {{ first_row_per('select * from ' ~ relation, '_integration, ' ~ key, '_loaded_at desc, _batch_id desc') }}
{%- endmacro %}
