{# Reading the JSON documents Steward's ledger keeps (a batch's schema drift: {"missing": [...], "added": [...],
   "renamed": {...}, "retyped": {...}}). `key` is a top-level key of the document, a name Steward writes (never a
   value from data). The column may be JSON, JSONB or text holding JSON. There is no JSON syntax every warehouse
   shares, so each macro has a form per adapter and a port adds one of each (Snowflake `parse_json(doc):key`,
   BigQuery `json_query(doc, '$.key')`, Databricks `doc:key`); without it the build stops at compile time naming the
   macro to add. #}

{% macro _no_portable_form(name) -%}
    {{ exceptions.raise_compiler_error("steward." ~ name ~ " has no form for the '" ~ target.type ~ "' adapter: add "
                                       ~ target.type ~ "__" ~ name ~ " to dbt_project/macros/portable (docs/warehouses.md)") }}
{%- endmacro %}

{# The value under `key` as JSON text (an array or object), null when the key is absent. #}
{% macro json_value_text(doc, key) -%}
    {{ return(adapter.dispatch('json_value_text', 'steward')(doc, key)) }}
{%- endmacro %}

{% macro default__json_value_text(doc, key) -%} {{ steward._no_portable_form('json_value_text') }} {%- endmacro %}

{% macro duckdb__json_value_text(doc, key) -%}
    ({{ doc }} ->> '$.{{ key }}')
{%- endmacro %}

{# As `json`, not `jsonb`: json keeps a document's own key order (jsonb sorts keys). Then compacted as DuckDB prints
   it (`["a","b"]`, where PostgreSQL prints `["a", "b"]`): whitespace outside strings goes, so a finding's
   explanation quoting the value reads the same on both warehouses. #}
{% macro postgres__json_value_text(doc, key) -%}
    regexp_replace(cast(cast(cast({{ doc }} as text) as json) -> '{{ key }}' as text),
                   '("(?:[^"\\]|\\.)*")|\s+', '\1', 'g')
{%- endmacro %}

{# How many elements the array under `key` has, null when the key is absent. #}
{% macro json_array_size(doc, key) -%}
    {{ return(adapter.dispatch('json_array_size', 'steward')(doc, key)) }}
{%- endmacro %}

{% macro default__json_array_size(doc, key) -%} {{ steward._no_portable_form('json_array_size') }} {%- endmacro %}

{% macro duckdb__json_array_size(doc, key) -%}
    json_array_length({{ doc }}, '$.{{ key }}')
{%- endmacro %}

{% macro postgres__json_array_size(doc, key) -%}
    json_array_length(cast(cast({{ doc }} as text) as json) -> '{{ key }}')
{%- endmacro %}

{# How many keys the object under `key` has, null when the key is absent. #}
{% macro json_object_size(doc, key) -%}
    {{ return(adapter.dispatch('json_object_size', 'steward')(doc, key)) }}
{%- endmacro %}

{% macro default__json_object_size(doc, key) -%} {{ steward._no_portable_form('json_object_size') }} {%- endmacro %}

{% macro duckdb__json_object_size(doc, key) -%}
    len(json_keys({{ doc }}, '$.{{ key }}'))
{%- endmacro %}

{% macro postgres__json_object_size(doc, key) -%}
    case when cast(cast({{ doc }} as text) as json) -> '{{ key }}' is not null then
        (select count(*) from json_object_keys(cast(cast({{ doc }} as text) as json) -> '{{ key }}'))
    end
{%- endmacro %}
