{#- A table or view model on DuckDB is built by one `create or replace` statement inside the model's transaction.

dbt-duckdb's own `table` and dbt's `view` materializations build a model under a temporary name, rename the old
relation to a backup, rename the new one into place and drop the backup, and look up indexes and foreign keys on the
way: about eight statements and three adapter macro calls a model, where each adapter call renders a fresh context of
every macro in the project (~650). DuckDB replaces a table or view atomically in one statement, and no Steward model
has indexes, constraints, grants, contracts or Python, so none of that dance is needed here. On a demo-sized build it
was ~20% of dbt's Python time; at 1M contacts, part of the fixed cost of every daily run (docs/architecture.md).
PostgreSQL keeps dbt-postgres' materializations (it has no `create or replace table`).

A relation of the other kind under the model's name (a view that became a table, or the reverse) is dropped first,
in the same transaction. A model that asks for what this does not do (an enforced contract, indexes, grants, or a
Python model) is refused when it builds, naming the model, instead of being built without it. -#}

{% macro duckdb__steward_build_refusal(kind) %}
  {%- if model['language'] != 'sql' -%}
    {{ return(kind ~ " model " ~ model['name'] ~ " is not SQL: Steward's DuckDB " ~ kind ~ " materialization builds SQL models only") }}
  {%- endif -%}
  {%- for option in ['indexes', 'grants'] -%}
    {%- if config.get(option) -%}
      {{ return(kind ~ " model " ~ model['name'] ~ " sets " ~ option ~ ", which Steward's DuckDB " ~ kind ~ " materialization does not build") }}
    {%- endif -%}
  {%- endfor -%}
  {%- if config.get('contract').enforced -%}
    {{ return(kind ~ " model " ~ model['name'] ~ " enforces a contract, which Steward's DuckDB " ~ kind ~ " materialization does not check") }}
  {%- endif -%}
  {{ return(none) }}
{% endmacro %}


{% macro duckdb__steward_replace_relation(kind) %}
  {%- set refusal = duckdb__steward_build_refusal(kind) -%}
  {%- if refusal is not none -%}
    {{ exceptions.raise_compiler_error(refusal) }}
  {%- endif -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type=kind) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% if existing_relation is not none and existing_relation.type != kind %}
    {{ adapter.drop_relation(existing_relation) }}
  {% endif %}

  {% call statement('main') -%}
    {{ duckdb__steward_replace_as(kind, target_relation) }}
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target_relation, model) %}
  -- `COMMIT` happens here
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmacro %}


{# The model's SQL as a table or view (`kind`) under `relation`, replacing what is there, in one statement. #}
{% macro duckdb__steward_replace_as(kind, relation) -%}
  {%- set sql_header = config.get('sql_header', none) -%}
  {{ sql_header if sql_header is not none }}
  create or replace {{ kind }} {{ relation }} as (
    {{ compiled_code }}
  );
{%- endmacro %}


{% materialization table, adapter='duckdb' %}
  {{ return(duckdb__steward_replace_relation('table')) }}
{% endmaterialization %}


{% materialization view, adapter='duckdb' %}
  {{ return(duckdb__steward_replace_relation('view')) }}
{% endmaterialization %}
