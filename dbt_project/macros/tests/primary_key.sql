{#
  The model's key: present on every row and naming one row only -- dbt's `not_null` and `unique` in one test and one
  grouped scan of the model instead of two nodes and two scans (at 10M rows the scan is the test's whole cost).

  One row per failing key value: the null key (with how many rows hold it) and each duplicated value. The failure
  count is what the two tests would have counted together: the rows with a null key plus the duplicated values.
  Steward splits a failure back into the two assertions (integrations/transform/assertions.py), so a finding names
  `not_null_<model>_<column>` or `unique_<model>_<column>` exactly as before.

  `kept: true` is for an incremental model that keeps these rows itself (macros/incremental_events.sql,
  record_key_violations: exactly what this scan returns, maintained at the cost of each build's new rows): the test
  reads that small table instead of scanning the whole model at every run. Without the table it scans.
#}
{% test primary_key(model, column_name, kept=false) %}
    {{ config(fail_calc="coalesce(sum(case when key_value is null then n_records else 1 end), 0)") }}
    {%- set violations = adapter.get_relation(database=model.database, schema=model.schema,
                                              identifier=model.identifier ~ '__key_violations')
                         if kept and execute else none %}
    {%- if violations is not none %}
    select key_value, sum(n_records) as n_records
    from {{ violations }}
    group by key_value
    {%- else %}
    select {{ column_name }} as key_value, count(*) as n_records
    from {{ model }}
    group by {{ column_name }}
    having {{ column_name }} is null or count(*) > 1
    {%- endif %}
{% endtest %}
