{#
  A model's assertions in one test: its key (`key`: not null and unique, as `primary_key`), its grain (`unique`: each
  list of columns names no two rows, as `unique_combination`) and its row-by-row column tests (`not_null` and
  `non_negative` per column, `accepted_values` per column, nulls passing as in dbt's own). dbt builds a node per
  test, and each node costs dbt ~30-50 ms of its own work whatever the table's size (its context, its compiled
  file, its events): a model with six such tests paid for six nodes and six scans.

  One row per failing assertion: the assertion, the column (the grain's columns, comma-separated) and what the
  one-column test would have counted: rows for not_null and non_negative, distinct values for accepted_values (dbt's
  test groups by value), duplicated values for the key's `unique`, duplicated combinations for `unique_combination`.
  Steward splits a failure back into those tests (integrations/transform/assertions.py), so a finding names
  `not_null_<model>_<column>`, `unique_<model>_<column>`, `unique_combination_<model>_<columns>`, ... as when they
  were separate tests. In a daily build it reads only the rows the build wrote when every assertion in it may
  (macros/per_key_tests.sql: row-by-row ones always, a key or grain only when it holds the model's key).
#}
{% test columns_hold(model, key=none, unique=[], not_null=[], non_negative=[], accepted_values={}) %}
    {{ config(fail_calc="coalesce(sum(failures), 0)") }}
    {%- set parts = [] -%}
    {%- if key -%}
        {%- set quoted = adapter.quote(key) -%}
        {%- do parts.append(('not_null', key, 'count(*) filter (where ' ~ quoted ~ ' is null)')) -%}
        {%- do parts.append(('unique', key, '(select count(*) from (select ' ~ quoted ~ ' from ' ~ model ~ ' where '
                             ~ quoted ~ ' is not null group by ' ~ quoted ~ ' having count(*) > 1) as duplicated)')) -%}
    {%- endif -%}
    {%- for columns in unique -%}
        {%- do parts.append(('unique_combination', columns | join(','), '(select count(*) from (select '
                             ~ columns | join(', ') ~ ' from ' ~ model ~ ' group by ' ~ columns | join(', ')
                             ~ ' having count(*) > 1) as duplicated)')) -%}
    {%- endfor -%}
    {%- for column in not_null -%}
        {%- do parts.append(('not_null', column, 'count(*) filter (where ' ~ adapter.quote(column) ~ ' is null)')) -%}
    {%- endfor -%}
    {%- for column in non_negative -%}
        {%- do parts.append(('non_negative', column, 'count(*) filter (where ' ~ adapter.quote(column) ~ ' < 0)')) -%}
    {%- endfor -%}
    {%- for column, values in accepted_values.items() -%}
        {%- set listed = [] -%}
        {%- for value in values -%}
            {%- do listed.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
        {%- endfor -%}
        {%- do parts.append(('accepted_values', column, 'count(distinct ' ~ adapter.quote(column)
                             ~ ') filter (where cast(' ~ adapter.quote(column) ~ ' as ' ~ text_type() ~ ') not in ('
                             ~ listed | join(', ') ~ '))')) -%}
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
        select cast('{{ part[0] }}' as {{ text_type() }}) as assertion,
            cast('{{ part[1] | replace("'", "''") }}' as {{ text_type() }}) as column_name,
            cast(failures_{{ loop.index }} as bigint) as failures
        from counted
        {%- endfor %}
    ) as assertions
    where failures > 0
{% endtest %}
