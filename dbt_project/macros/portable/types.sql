{# Types a model casts to, named once. The portable spelling works on DuckDB, PostgreSQL and Snowflake; a BigQuery
   or Databricks port adds its own spelling of each (`bigquery__float_type` float64, `bigquery__text_type` string,
   `bigquery__instant_type` timestamp; Databricks double, string, timestamp). #}

{# Text (DuckDB VARCHAR, PostgreSQL character varying). #}
{% macro text_type() -%}
    {{ return(adapter.dispatch('text_type', 'steward')()) }}
{%- endmacro %}

{% macro default__text_type() -%} varchar {%- endmacro %}

{# An instant: a timestamp with time zone. #}
{% macro instant_type() -%}
    {{ return(adapter.dispatch('instant_type', 'steward')()) }}
{%- endmacro %}

{% macro default__instant_type() -%} timestamptz {%- endmacro %}

{# A 64-bit float (DuckDB DOUBLE, PostgreSQL double precision). Not dbt's type_float(): on DuckDB that is FLOAT, a
   32-bit float, and rates would lose digits. #}
{% macro float_type() -%}
    {{ return(adapter.dispatch('float_type', 'steward')()) }}
{%- endmacro %}

{% macro default__float_type() -%} double precision {%- endmacro %}

{# `cast(expr as <64-bit float>)`: a division that must not be an integer division (PostgreSQL's `/` on two
   integers truncates, DuckDB's does not), a rate. #}
{% macro to_float(expr) -%}
    cast({{ expr }} as {{ steward.float_type() }})
{%- endmacro %}

{# An empty array of text, what `example_ids` gives when nothing matched. #}
{% macro empty_text_array() -%}
    {{ return(adapter.dispatch('empty_text_array', 'steward')()) }}
{%- endmacro %}

{% macro default__empty_text_array() -%} cast(array[] as varchar[]) {%- endmacro %}

{% macro duckdb__empty_text_array() -%} cast([] as varchar[]) {%- endmacro %}

{% macro postgres__empty_text_array() -%} cast('{}' as varchar[]) {%- endmacro %}

{# The sum of an integer column as an integer. PostgreSQL sums a bigint into a numeric, which reaches Python as a
   Decimal (that refuses arithmetic with a float); DuckDB's sum is an integer already (HUGEINT), left as it is. #}
{% macro integer_sum(expr) -%}
    {{ return(adapter.dispatch('integer_sum', 'steward')(expr)) }}
{%- endmacro %}

{% macro default__integer_sum(expr) -%} sum({{ expr }}) {%- endmacro %}

{% macro postgres__integer_sum(expr) -%} cast(sum({{ expr }}) as bigint) {%- endmacro %}
