{# Raw tables are append-only (one batch per pull); staging reads the newest version of each record. #}
{% macro latest_records(relation, key) -%}
    select *
    from {{ relation }}
    qualify row_number() over (partition by {{ key }} order by _loaded_at desc, _batch_id desc) = 1
{%- endmacro %}
