{#- An incremental model on DuckDB, built as dbt-duckdb builds it minus the steps that do nothing on DuckDB for
Steward's models (see duckdb_table.sql for the refusals and the reason: each adapter call renders a context of every
macro dbt knows).

- A first build, a full refresh, or a view under the model's name: one `create or replace table`, where dbt-duckdb
  built under a temporary name and swapped it in with two renames, a drop and lookups of indexes and foreign keys.
- An incremental build: the model's SQL into a temporary table, the schema change the model's `on_schema_change`
  asks for (`process_schema_changes`), then the model's incremental strategy, as in dbt-duckdb. What is left out is
  `adapter.expand_target_column_types`, which reads both relations' columns (two adapter calls) to widen a
  sized string column: DuckDB's VARCHAR has no size, so it never finds one to widen.
Hooks, the transaction and the relation it returns are dbt-duckdb's. -#}

{% materialization incremental, adapter='duckdb' %}
  {%- set refusal = duckdb__steward_build_refusal('incremental') -%}
  {%- if refusal is not none -%}
    {{ exceptions.raise_compiler_error(refusal) }}
  {%- endif -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set unique_key = config.get('unique_key') -%}
  {%- set replaces_other_kind = existing_relation is not none and not existing_relation.is_table -%}
  {%- set full_refresh_mode = should_full_refresh() or replaces_other_kind -%}
  {%- set on_schema_change = incremental_validate_on_schema_change(config.get('on_schema_change'), default='ignore') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% if existing_relation is none or full_refresh_mode %}
    {% if replaces_other_kind %}
      {{ adapter.drop_relation(existing_relation) }}
    {% endif %}
    {% set build_sql = duckdb__steward_replace_as('table', target_relation) %}
  {% else %}
    {% set temp_relation = make_temp_relation(target_relation) %}
    {% do run_query(create_table_as(True, temp_relation, compiled_code)) %}
    {#-- the columns to write: the synced ones when the schema changed, else the table's own --#}
    {% set dest_columns = process_schema_changes(on_schema_change, temp_relation, existing_relation) %}
    {% if not dest_columns %}
      {% set dest_columns = adapter.get_columns_in_relation(existing_relation) %}
    {% endif %}
    {% set incremental_strategy = config.get('incremental_strategy') or 'default' %}
    {% set incremental_predicates = config.get('predicates', none) or config.get('incremental_predicates', none) %}
    {% set strategy_sql_macro_func = adapter.get_incremental_strategy_macro(context, incremental_strategy) %}
    {% set build_sql = strategy_sql_macro_func({'target_relation': target_relation, 'temp_relation': temp_relation,
                                                'unique_key': unique_key, 'dest_columns': dest_columns,
                                                'incremental_predicates': incremental_predicates}) %}
  {% endif %}

  {% call statement('main') %}
      {{- build_sql }}
  {% endcall %}

  {% do persist_docs(target_relation, model) %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  -- `COMMIT` happens here
  {% do adapter.commit() %}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}
