{# Data tests of the incremental people tables that read only the rows a daily build wrote (issue #12).

   A daily run rebuilds the people of K (the keys its inputs logged) in a per-key model (macros/per_key.sql) and
   leaves every other row as it was; a people staging model (strategy logged_delete_insert) replaces the rows of the
   records that arrived and logs their people. A data test that judges rows one at a time (not_null, non_negative,
   accepted_values), or groups of rows that share the model's key (primary_key / unique on it, unique_combination
   including it; for a staging model also its merge key, since a build deletes every row of a key it writes), or a
   model's columns_hold of such assertions only, can
   only find a new failure among the rows the build wrote: the others are the ones the same test passed on at the
   previous build. So the test reads `email_key is null or email_key in K` (K: the per-key model's `<model>__keys`,
   or the people the staging model's change log names for its latest build) instead of the whole table: at 1M
   people the uniqueness test of int_people__systems cost ~0.7 s of every daily run, over ~3M rows, for ~15,000
   changed people. A staging model whose log keeps only some rows' people (`change_log_where`: the email events) is
   tested whole.

   The test reads the whole table, as any test does, unless all of these hold:
   - the build is a governance build that vouches for the test (var `per_key_vouched`): `ledger.vouched_tests` holds
     its unique_id, written by integrations/transform/changes.py just before dbt starts (the tests that passed in the last complete
     governance build of the same project and vars; none after a `--full-refresh`, a build outside a governance
     run, or a failed one) and emptied when dbt is done, so no other build ever reads it;
   - the model was rebuilt for its keys, not whole (`<model>__keys` has no is_all row; the staging model's latest
     build is not marked is_full);
   - the test is one of the key-local kinds above.
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

{# The condition that limits this test to the rows this build wrote, or none (the whole table). #}
{% macro per_key_test_scope(relation) -%}
    {%- if not execute or model.resource_type != 'test' or (model.depends_on.nodes | length) != 1 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set parent = graph.nodes.get(model.depends_on.nodes[0]) -%}
    {%- set strategy = parent.config.get('incremental_strategy') if parent is not none else none -%}
    {%- if strategy == 'per_key' -%}
        {%- set column = parent.config.get('per_key_column', 'email_key') -%}
        {%- set written = api.Relation.create(database=relation.database, schema=relation.schema,
                                              identifier=relation.identifier ~ '__keys') -%}
        {%- set whole = "select count(*) from " ~ written ~ " where is_all" -%}
        {%- set keys = "select per_key." ~ adapter.quote(column) ~ " from " ~ written ~ " as per_key where per_key."
                       ~ adapter.quote(column) ~ " is not null" -%}
    {%- elif strategy == 'logged_delete_insert' and not parent.config.get('change_log_where') -%}
        {%- set column = 'email_key' -%}
        {%- set written = change_log_relation(relation) -%}
        {%- set latest = "(select max(newest.seq) from " ~ written ~ " as newest)" -%}
        {%- set whole = "select count(*) from " ~ written ~ " where seq = " ~ latest ~ " and is_full" -%}
        {%- set keys = "select per_key.email_key from " ~ written ~ " as per_key where per_key.seq = " ~ latest
                       ~ " and per_key.email_key is not null" -%}
    {%- else -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not _key_local_test(model.test_metadata, column, parent.config.get('unique_key')
                               if strategy == 'logged_delete_insert' else none) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not var('per_key_vouched', false) -%}{{ return(none) }}{%- endif -%}  {#- no query in any other build -#}
    {%- set vouched = api.Relation.create(database=relation.database, schema='ledger', identifier='vouched_tests') -%}
    {%- if _tables_existing([written, vouched]) | length < 2 -%}{{ return(none) }}{%- endif -%}
    {%- set found = run_query("select (select count(*) from " ~ vouched ~ " where unique_id = '"
                              ~ (model.unique_id | replace("'", "''")) ~ "'), (" ~ whole ~ ")") -%}
    {%- if found.rows[0][0] == 0 or found.rows[0][1] > 0 -%}{{ return(none) }}{%- endif -%}
    {{ return('(' ~ adapter.quote(column) ~ ' is null or ' ~ adapter.quote(column) ~ ' in (' ~ keys ~ '))') }}
{%- endmacro %}

{# Whether a generic test judges each row alone, or groups of rows that share the key `column` (or, on a table merged
   by `unique_key`, that key: a build deletes every row of a key it writes, so a group holding a row it wrote holds
   only rows it wrote). #}
{% macro _key_local_test(metadata, column, unique_key=none) -%}
    {%- if metadata is none or not metadata.name -%}{{ return(false) }}{%- endif -%}
    {%- set kwargs = metadata.kwargs or {} -%}
    {%- set keys = [column, unique_key] | reject('none') | list -%}
    {%- if metadata.name in ('not_null', 'non_negative', 'accepted_values') -%}{{ return(true) }}{%- endif -%}
    {%- if metadata.name == 'columns_hold' -%}  {#- its row-by-row assertions always; its key and grain as above -#}
        {%- set ns = namespace(local=(not kwargs.get('key') or kwargs.get('key') in keys)) -%}
        {%- for columns in kwargs.get('unique') or [] -%}
            {%- if keys | select('in', columns) | list | length == 0 -%}{%- set ns.local = false -%}{%- endif -%}
        {%- endfor -%}
        {{ return(ns.local) }}
    {%- endif -%}
    {%- if metadata.name in ('primary_key', 'unique') -%}{{ return(kwargs.get('column_name') in keys) }}{%- endif -%}
    {%- if metadata.name == 'unique_combination' -%}
        {{ return(keys | select('in', kwargs.get('columns') or ()) | list | length > 0) }}
    {%- endif -%}
    {{ return(false) }}
{%- endmacro %}
