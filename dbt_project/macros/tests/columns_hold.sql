{#
  A model's row-by-row column assertions in one test and one scan: `not_null` and `non_negative` per column, and
  `accepted_values` per column (nulls pass, as in dbt's own). dbt builds a node per column test, and each node costs
  dbt ~30-50 ms of its own work whatever the table's size (its context, its compiled file, its events): a model with
  six such tests paid for six nodes and six scans.

  One row per failing assertion: the assertion, the column and what the one-column test would have counted (rows
  for not_null and non_negative, distinct values for accepted_values, which dbt's test groups by value). Steward
  splits a failure back into those tests (integrations/transform/assertions.py), so a finding names
  `not_null_<model>_<column>`, `non_negative_<model>_<column>` or `accepted_values_<model>_<column>__<values>` as
  when they were separate tests. The test reads only the rows a daily build wrote where that is safe, like each
  assertion alone (macros/per_key_tests.sql: every assertion here judges one row).
#}
{% test columns_hold(model, not_null=[], non_negative=[], accepted_values={}) %}
    {{ config(fail_calc="coalesce(sum(failures), 0)") }}
    {%- set parts = [] -%}
    {%- for column in not_null -%}
        {%- do parts.append(('not_null', column, 'count(*) filter (where ' ~ adapter.quote(column) ~ ' is null)')) -%}
    {%- endfor -%}
    {%- for column in non_negative -%}
        {%- do parts.append(('non_negative', column, 'count(*) filter (where ' ~ adapter.quote(column) ~ ' < 0)')) -%}
    {%- endfor -%}
    {%- for column, values in accepted_values.items() -%}
        {%- set listed = [] -%}
        {%- for value in values -%}{%- do listed.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}{%- endfor -%}
        {%- do parts.append(('accepted_values', column, 'count(distinct ' ~ adapter.quote(column) ~ ') filter (where cast('
                             ~ adapter.quote(column) ~ ' as ' ~ text_type() ~ ') not in (' ~ listed | join(', ') ~ '))')) -%}
    {%- endfor -%}
    {%- if parts | length == 0 -%}
        {{ exceptions.raise_compiler_error("columns_hold on " ~ model ~ " names no column") }}
    {%- endif %}
    with counted as (
        select
        {%- for part in parts %}
            {{ part[2] }} as failures_{{ loop.index }}{% if not loop.last %},{% endif %}
        {%- endfor %}
        from {{ model }}
    )
    select assertion, column_name, failures
    from (
        {%- for part in parts %}
        {% if not loop.first %}union all {% endif -%}
        select cast('{{ part[0] }}' as {{ text_type() }}) as assertion, cast('{{ part[1] }}' as {{ text_type() }})
            as column_name, cast(failures_{{ loop.index }} as bigint) as failures
        from counted
        {%- endfor %}
    ) as assertions
    where failures > 0
{% endtest %}
