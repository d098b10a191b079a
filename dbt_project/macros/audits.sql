{# Helpers of the metric-balance, oversight, transparency and anomaly audits. Each `default__` form renders the same
   on DuckDB and PostgreSQL; a warehouse whose SQL differs (Snowflake, BigQuery, Databricks) adds an
   `<adapter>__<name>` macro beside it (adapter.dispatch picks it; docs/warehouses.md lists which). #}

{# The run's reference day (UTC): days before it are complete, it is the partial day the run happens on. #}
{% macro as_of_date() -%}
    {{ utc_date(as_of()) }}
{%- endmacro %}

{# The UTC calendar day of a timestamp with time zone, whatever the session's time zone is. #}
{% macro utc_date(ts) -%}
    {{ return(adapter.dispatch('utc_date', 'steward')(ts)) }}
{%- endmacro %}

{% macro default__utc_date(ts) -%}
    cast(({{ ts }}) at time zone 'UTC' as date)
{%- endmacro %}

{# Whole weeks between a timestamp and as_of: 0 for the 7 days up to as_of, 1 for the 7 days before, ... #}
{% macro weeks_ago(ts) -%}
    cast(floor({{ hours_between(ts, as_of()) }} / 168.0) as integer)
{%- endmacro %}

{# The p-quantile with linear interpolation (p = 0.5 is the median), as an ordered-set aggregate. #}
{% macro quantile(expr, p) -%}
    {{ return(adapter.dispatch('quantile', 'steward')(expr, p)) }}
{%- endmacro %}

{% macro default__quantile(expr, p) -%}
    percentile_cont({{ p }}) within group (order by {{ expr }})
{%- endmacro %}

{# `expr in (values)` for a list of policy values (validated to hold no quotes); an empty list matches nothing. #}
{% macro in_values(expr, values) -%}
    {%- if values -%}
        {{ expr }} in ({% for v in values %}'{{ v }}'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- else -%} false {%- endif -%}
{%- endmacro %}

{# Integers lo..hi as a one-column relation named `n` (a spine of days or weeks). #}
{% macro integers(lo, hi) -%}
    {{ return(adapter.dispatch('integers', 'steward')(lo, hi)) }}
{%- endmacro %}

{% macro default__integers(lo, hi) -%}
    select cast(generate_series as integer) as n from generate_series({{ lo }}, {{ hi }})
{%- endmacro %}

{# A double rounded to `digits` decimals (PostgreSQL rounds only numerics), for evidence people read. #}
{% macro round_to(expr, digits) -%}
    {{ return(adapter.dispatch('round_to', 'steward')(expr, digits)) }}
{%- endmacro %}

{% macro default__round_to(expr, digits) -%}
    cast(round(cast({{ expr }} as numeric), {{ digits }}) as {{ float_type() }})
{%- endmacro %}
