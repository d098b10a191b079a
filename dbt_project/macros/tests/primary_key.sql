{#
  The model's key: present on every row and naming one row only -- dbt's `not_null` and `unique` in one test and one
  grouped scan of the model instead of two nodes and two scans (at 10M rows the scan is the test's whole cost).

  One row per failing key value: the null key (with how many rows hold it) and each duplicated value. The failure
  count is what the two tests would have counted together: the rows with a null key plus the duplicated values.
  Steward splits a failure back into the two assertions (integrations/transform/assertions.py), so a finding names
  `not_null_<model>_<column>` or `unique_<model>_<column>` exactly as before.
#}
{% test primary_key(model, column_name) %}
    {{ config(fail_calc="coalesce(sum(case when key_value is null then n_records else 1 end), 0)") }}
    select {{ column_name }} as key_value, count(*) as n_records
    from {{ model }}
    group by {{ column_name }}
    having {{ column_name }} is null or count(*) > 1
{% endtest %}
