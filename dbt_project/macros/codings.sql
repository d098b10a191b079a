{# Codings as data (contracts/codings.py, docs/policy.md#codings): the policy's `codings` var says which codes a team
   uses; these macros apply it in plain CASE and IN expressions that DuckDB and PostgreSQL (and any SQL warehouse)
   run alike. #}

{# The band of a numeric `expr` by the policy's bands for `name` (`age` -> age_band): 'under 18' below the first
   edge, '18-24' for 18 <= x < 25, ..., '65+' from the last. Null stays null; a policy without bands for `name`
   gives null, so a banded column never invents a group. #}
{% macro band(expr, name) -%}
    {%- set spec = (var('codings').get('bands') or {}).get(name) -%}
    {%- if not spec -%}
    cast(null as {{ text_type() }})
    {%- else -%}
    case
        when {{ expr }} is null then null
        {%- for edge in spec['edges'] %}
        when {{ expr }} < {{ edge }} then '{{ spec['labels'][loop.index0] }}'
        {%- endfor %}
        else '{{ spec['labels'][-1] }}'
    end
    {%- endif -%}
{%- endmacro %}

{# The attribute `<name>_band` as staging keeps it: the band a system gave wins; else the band of its number. #}
{% macro banded(given, number, name) -%}
    coalesce({{ given }}, {{ band(number, name) }})
{%- endmacro %}

{# The codes `attribute` may hold by the policy (the list plus its band's labels); none listed: null (not judged). #}
{% macro allowed_codes(attribute) -%}
    {{ return((var('codings').get('attributes') or {}).get(attribute)) }}
{%- endmacro %}

{# One `select` per judged column of a staged model: its non-null values outside `codes`, counted. `system` is a SQL
   expression (a literal for a built-in platform, the `system` column for a custom one). #}
{% macro unknown_codes(model, system, entity, column, kind, codes) -%}
    select
        cast({{ system }} as {{ text_type() }}) as system,
        '{{ entity }}' as entity,
        '{{ column }}' as column_name,
        '{{ kind }}' as coding,
        cast({{ column }} as {{ text_type() }}) as code,
        count(*) as row_count
    from {{ ref(model) }}
    where {{ column }} is not null
      and not {{ in_values('cast(' ~ column ~ ' as ' ~ text_type() ~ ')', codes) }}
    group by 1, 2, 3, 4, 5
{%- endmacro %}
