{# Data tests of a per-key model (macros/per_key.sql) that read only the rows its build recomputed (issue #12).

   A daily run rebuilds the people of K (the keys its inputs logged) and leaves every other row of a per-key model as
   it was. A data test that judges rows one at a time (not_null, non_negative, accepted_values) or groups of rows that
   share the model's key (primary_key / unique on the key column, unique_combination including it) can only find a
   new failure among the rows of K: the other rows are the ones the same test passed on at the previous build. So the
   test reads `key is null or key in K` (K from the model's `<model>__keys`) instead of the whole table: at 1M people
   a uniqueness test over int_people__systems cost ~0.7 s of every daily run, over its ~3M rows, for ~5,000 changed
   people.

   The test reads the whole table, as any test does, unless all of these hold:
   - the build is a governance build that vouches for the test: `ledger.vouched_tests` holds its unique_id, written
     by integrations/transform/changes.py just before dbt starts (the tests that passed in the last complete
     governance build; none after a `--full-refresh`, a build outside a governance run, or a failed one) and
     emptied when dbt is done, so no other build ever reads it;
   - the model was rebuilt for its keys, not whole (`<model>__keys` exists and has no is_all row);
   - the test is one of the key-local kinds above, on the model's key column where it names columns.
   A failure the previous build found is therefore looked for again in the whole table until the test passes. #}

{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set scope = per_key_test_scope(relation) -%}
    {%- if scope -%}
        {%- set where = '(' ~ where ~ ') and ' ~ scope if where else scope -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{# The condition that limits this test to the rows of K, or none (the whole table). #}
{% macro per_key_test_scope(relation) -%}
    {%- if not execute or model.resource_type != 'test' or (model.depends_on.nodes | length) != 1 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set parent = graph.nodes.get(model.depends_on.nodes[0]) -%}
    {%- if parent is none or parent.config.get('incremental_strategy') != 'per_key' -%}{{ return(none) }}{%- endif -%}
    {%- set column = parent.config.get('per_key_column', 'email_key') -%}
    {%- if not _key_local_test(model.test_metadata, column) -%}{{ return(none) }}{%- endif -%}
    {%- set keys = api.Relation.create(database=relation.database, schema=relation.schema,
                                       identifier=relation.identifier ~ '__keys') -%}
    {%- set vouched = api.Relation.create(database=relation.database, schema='ledger', identifier='vouched_tests') -%}
    {%- if _tables_existing([keys, vouched]) | length < 2 -%}{{ return(none) }}{%- endif -%}
    {%- set found = run_query("select (select count(*) from " ~ vouched ~ " where unique_id = '"
                              ~ (model.unique_id | replace("'", "''")) ~ "'), (select count(*) from " ~ keys
                              ~ " where is_all)") -%}
    {%- if found.rows[0][0] == 0 or found.rows[0][1] > 0 -%}{{ return(none) }}{%- endif -%}
    {{ return('(' ~ adapter.quote(column) ~ ' is null or ' ~ adapter.quote(column) ~ ' in (select per_key.'
              ~ adapter.quote(column) ~ ' from ' ~ keys ~ ' as per_key where per_key.' ~ adapter.quote(column)
              ~ ' is not null))') }}
{%- endmacro %}

{# Whether a generic test judges each row alone, or groups of rows that share the key `column`. #}
{% macro _key_local_test(metadata, column) -%}
    {%- if metadata is none or not metadata.name -%}{{ return(false) }}{%- endif -%}
    {%- set kwargs = metadata.kwargs or {} -%}
    {%- if metadata.name in ('not_null', 'non_negative', 'accepted_values') -%}{{ return(true) }}{%- endif -%}
    {%- if metadata.name in ('primary_key', 'unique') -%}{{ return(kwargs.get('column_name') == column) }}{%- endif -%}
    {%- if metadata.name == 'unique_combination' -%}{{ return(column in (kwargs.get('columns') or [])) }}{%- endif -%}
    {{ return(false) }}
{%- endmacro %}
