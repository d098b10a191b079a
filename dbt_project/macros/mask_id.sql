{# A stable, non-reversible token for a customer identifier: what findings and Slack may show instead of PII. #}
{% macro mask_id(expr) -%}
    {{ return(adapter.dispatch('mask_id', 'steward')(expr)) }}
{%- endmacro %}

{# md5() gives lower-case hex text on DuckDB, PostgreSQL, Snowflake and Databricks (BigQuery: to_hex(md5(...))). #}
{% macro default__mask_id(expr) -%}
    'h:' || left(md5(lower(trim(cast({{ expr }} as {{ text_type() }})))), 10)
{%- endmacro %}

{# Normalised email used to match one person across systems. #}
{% macro email_key(expr) -%}
    nullif(lower(trim({{ expr }})), '')
{%- endmacro %}

{# Hours between two timestamps as a double, the same on DuckDB and PostgreSQL. #}
{% macro hours_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('hours_between', 'steward')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro default__hours_between(start_ts, end_ts) -%}
    (extract(epoch from ({{ end_ts }})) - extract(epoch from ({{ start_ts }}))) / 3600.0
{%- endmacro %}

{# PostgreSQL's extract gives a numeric: the hours become a double as on DuckDB (a numeric mart column would reach
   Python as Decimal). #}
{% macro postgres__hours_between(start_ts, end_ts) -%}
    (cast(extract(epoch from ({{ end_ts }})) as double precision)
     - cast(extract(epoch from ({{ start_ts }})) as double precision)) / 3600.0
{%- endmacro %}

{# The run's reference time: the `as_of` var Steward passes, else now (as a plain timestamp with time zone). #}
{% macro as_of() -%}
    {%- if var('as_of') -%} cast('{{ var("as_of") }}' as {{ instant_type() }}) {%- else -%} cast(now() as {{ instant_type() }}) {%- endif -%}
{%- endmacro %}

{# Wilson score interval bound for a proportion (z = 1.96). #}
{% macro wilson(pos, n, sign) -%}
    case when {{ n }} > 0 then
        ((cast({{ pos }} as {{ float_type() }}) / {{ n }}) + 1.9208 / {{ n }}
         {{ sign }} 1.96 * sqrt((cast({{ pos }} as {{ float_type() }}) / {{ n }}) * (1 - cast({{ pos }} as {{ float_type() }}) / {{ n }}) / {{ n }}
                        + 0.9604 / ({{ n }} * {{ n }})))
        / (1 + 3.8416 / {{ n }})
    end
{%- endmacro %}

{# Two-proportion z-test of a group's rate against its reference group's, on the pooled rate: 0 for the reference
   itself and when the pooled rate is 0 or 1 (no spread to test against). Expects the columns group_value,
   reference_group, n, reference_n and the rates named. Shared by the bias mart and the launch audit's bias mart. #}
{% macro z_vs_reference(rate, reference_rate, pooled_rate) -%}
    case
        when group_value = reference_group then 0.0
        when {{ pooled_rate }} in (0, 1) then 0.0
        else ({{ rate }} - {{ reference_rate }})
             / sqrt({{ pooled_rate }} * (1 - {{ pooled_rate }}) * (1.0 / n + 1.0 / reference_n))
    end
{%- endmacro %}

{# Up to five example values, sorted, as an array: evidence that names a few subjects without listing them all.
   Rows where `expr` is null (the CASE of a non-matching row) are not examples; no match gives an empty list. #}
{% macro example_ids(expr) -%}
    {{ return(adapter.dispatch('example_ids', 'steward')(expr)) }}
{%- endmacro %}

{% macro default__example_ids(expr) -%}
    coalesce(
        (array_agg(distinct cast({{ expr }} as {{ text_type() }}) order by cast({{ expr }} as {{ text_type() }}))
            filter (where {{ expr }} is not null))[1:5],
        {{ empty_text_array() }})
{%- endmacro %}
