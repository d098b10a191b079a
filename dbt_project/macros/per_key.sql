{# Per-key incremental people models (issue #12, the daily run).

   PRODUCERS: the people-grain staging models are incremental (macros/incremental_events.sql reads only the batches
   landed since their last build) with the strategy `logged_delete_insert`. Besides replacing their rows by key, each
   build logs the people it touched in a change log beside the table, `<model>__changes (seq, email_key, is_full)`:
   the email_key of every row it replaces or deletes (an email that changed: the OLD email), of every row it inserts,
   and of every row the tombstone post-hook deletes (`log_tombstoned`, run before `delete_tombstoned`). `seq` numbers
   the table's builds (1, 2, ...; a count, never the clock, so contracts/rebuild.py does not see a clock read); every
   build writes one marker row (email_key null), and a build that rebuilt the whole table (first build,
   `--full-refresh`, a changed model SQL) marks itself `is_full`. The log keeps its last 5 builds (`prune_change_log`):
   it holds people's emails, so it keeps no more than the per-key models need (they run in the same runs).
   A producer configured with `change_log_where` (a condition on its columns, e.g. the email events':
   `event_type in ('SENT', 'STATUSCHANGE')`) logs only the keys of the rows matching it, replaced, inserted or
   tombstoned: its consumers must read only such rows of it (a day's opens and clicks then recompute nobody).

   CONSUMERS: a people model whose rows for one email_key depend only on its inputs' rows with that email_key is
   incremental with the strategy `per_key`, configured with
     per_key_inputs  the models it reads that keep a change log (staging above, or another per-key model: a per-key
                     model logs the keys it recomputed the same way, so per-key models chain);
     per_key_watch   inputs without a change log (a raw source, `source:<platform>.<table>`, fingerprinted by its row
                     count and newest `_loaded_at`; `custom_systems`, the set of custom systems): when one changes, the
                     whole model is rebuilt;
     per_key_column  the column of the model that holds the key (email_key, or customer_token = mask_id(email_key)).
   It remembers, per input, the last `seq` it consumed (`<model>__consumed`). A build reads the keys K logged after
   it (`<model>__keys`, made by the pre-hook `per_key_prepare`), computes the model for K only (its SQL filters every
   input with `per_key_match`), deletes every row of K (a person who left every system loses their rows: dbt's own
   delete+insert would delete only the keys of the new rows) and inserts the recomputed rows. It rebuilds ALL keys
   when it is built for the first time or with `--full-refresh`, its SQL changed (incremental_code_changed), an input
   logged a full rebuild or pruned entries it had not consumed yet, or a watched input changed. #}

{% macro change_log_relation(relation) -%}
    {{ return(api.Relation.create(database=relation.database, schema=relation.schema,
                                  identifier=relation.identifier ~ '__changes')) }}
{%- endmacro %}

{# Pre-hook of every producer: its change log exists. #}
{% macro create_change_log() -%}
    create table if not exists {{ change_log_relation(this) }}
        (seq bigint, email_key {{ text_type() }}, is_full boolean)
{%- endmacro %}

{# Post-hook: a build that rebuilt the whole table (dbt created it: first build or --full-refresh) logs is_full. An
   incremental build has logged its keys in its strategy, and this hook renders nothing (dbt skips an empty hook). #}
{% macro log_full_build() -%}
    {%- if not is_incremental() -%}
    {%- set log = change_log_relation(this) -%}
    insert into {{ log }} (seq, email_key, is_full)
    select coalesce(max(seq), 0) + 1, cast(null as {{ text_type() }}), true from {{ log }}
    {%- endif -%}
{%- endmacro %}

{# Post-hook: keep the log's last 5 builds. A consumer that has not read the pruned ones rebuilds all of its keys. #}
{% macro prune_change_log() -%}
    {%- set log = change_log_relation(this) -%}
    delete from {{ log }} where seq <= (select max(kept.seq) - 5 from {{ log }} as kept)
{%- endmacro %}

{# The strategy of the producers: delete+insert on unique_key, logging the email_key of the rows replaced and inserted
   under a new seq. After a changed model SQL or vars (every raw row read again) the build logs is_full instead of
   every key. The built rows the new ones replace are found ONCE, into a temporary table (`<model>__replaced`: key,
   email_key, whether the log takes it): the log and the delete read it, where each used to scan the whole built table
   for the new keys (the email events: two probes of 10M ids per day, ~2 s each on this machine). On a day whose keys
   are all new it is empty, and the delete's join, with nothing to match, skips the scan. A build that read all of raw
   again (`full`: nearly every key replaced) deletes by the new keys directly and logs no key. #}
{% macro get_incremental_logged_delete_insert_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- set log = change_log_relation(this) -%}
    {%- set where = config.get('change_log_where') -%}
    {%- set replaced = '"' ~ this.identifier ~ '__replaced"' -%}
    {%- set full = incremental_code_changed() or built_vars_changed() -%}
    insert into {{ log }} (seq, email_key, is_full)
    select coalesce(max(seq), 0) + 1, cast(null as {{ text_type() }}), {{ 'true' if full else 'false' }} from {{ log }};
    {%- if full %}
    delete from {{ target }} where {{ key }} in (select {{ key }} from {{ temp }});
    {%- elif _read_only_new_keys() %}
    insert into {{ log }} (seq, email_key, is_full)
    select distinct (select max(seq) from {{ log }}), email_key, false
    from {{ temp }}
    where email_key is not null{% if where %} and ({{ where }}){% endif %};
    {%- else %}
    drop table if exists {{ replaced }};
    create temporary table {{ replaced }} as
    select built.{{ key }} as replaced_key, built.email_key{% if where %}, ({{ where }}) as is_logged{% endif %}
    from {{ target }} as built
    where built.{{ key }} in (select {{ key }} from {{ temp }});
    insert into {{ log }} (seq, email_key, is_full)
    select (select max(seq) from {{ log }}), changed.email_key, false
    from (
        select email_key from {{ replaced }}{% if where %} where is_logged{% endif %}
        union
        select email_key from {{ temp }}{% if where %} where {{ where }}{% endif %}
    ) as changed
    where changed.email_key is not null;
    delete from {{ target }} where {{ key }} in (select replaced_key from {{ replaced }});
    drop table {{ replaced }};
    {%- endif %}
    insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ temp }}
{%- endmacro %}

{# Whether every raw batch this build reads landed only keys new to its raw table (ledger.batches.keys_new, set by
   landing: no stored row shared a key, no other integration holds rows there, no tombstone of one was lifted). Then
   no built row has a key of the new rows, and the strategy skips looking for the rows they replace: a probe of
   every built key (the email events: ~0.35 s at 10M events, on a day whose 100k events are all new). A batch landed
   any other way (an API page, a PostgreSQL landing, before the column existed) leaves it null, and the probe runs.
   The model's raw source is the one source it reads outside Steward's own schemas. #}
{% macro _read_only_new_keys() -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- set raw = [] -%}
    {%- for name, table in model.sources if name != 'steward' -%}
    {%- if (name ~ '.' ~ table) not in raw | map(attribute='name') | list -%}
    {%- do raw.append({'name': name ~ '.' ~ table, 'relation': source(name, table)}) -%}
    {%- endif -%}
    {%- endfor -%}
    {%- if raw | length != 1 -%}{{ return(false) }}{%- endif -%}
    {%- set found = run_query("select count(*), count(case when landed.keys_new then 1 end) from (select "
                              ~ "ledger.loaded_at as _loaded_at, ledger.keys_new from " ~ source('steward', 'batches')
                              ~ " as ledger where ledger.platform || '__' || ledger.entity = '"
                              ~ raw[0].relation.identifier ~ "') as landed where "
                              ~ unread_batches(raw[0].relation)) -%}
    {{ return(found.rows[0][0] > 0 and found.rows[0][0] == found.rows[0][1]) }}
{%- endmacro %}

{# Post-hook before delete_tombstoned (same arguments): log the email_key of the rows it is about to delete, from the
   same tombstones (`pending_tombstones`, macros/incremental_events.sql: those since the build's watermark; the older
   ones name no row any more) and only when there is one, so a day without tombstones never scans the table.
   `key_prefix` (custom systems: the model key is `<integration>:<id>`) prefixes the tombstone's record id with its
   integration. #}
{% macro log_tombstoned(model_key, entity, relation, raw_key, key_prefix=false) -%}
    {%- if is_incremental() and tombstones_pending(entity) -%}
    {%- set log = change_log_relation(this) -%}
    insert into {{ log }} (seq, email_key, is_full)
    select (select max(seq) from {{ log }}), built.email_key, false
    from {{ this }} as built
    where built.email_key is not null
      and built.{{ model_key }} in ({{ _tombstoned_keys(entity, relation, raw_key, key_prefix) }})
      {%- if config.get('change_log_where') %} and ({{ config.get('change_log_where') }}){% endif %}
    {%- endif -%}
{%- endmacro %}

{# delete_tombstoned for a model whose key is `<integration>:<record id>` (custom systems). #}
{% macro delete_tombstoned_prefixed(model_key, entity, relation, raw_key) -%}
    {%- if is_incremental() and tombstones_pending(entity) -%}
    delete from {{ this }} where {{ model_key }} in ({{ _tombstoned_keys(entity, relation, raw_key, true) }})
    {%- endif -%}
{%- endmacro %}

{% macro _tombstoned_keys(entity, relation, raw_key, key_prefix) -%}
    select {% if key_prefix %}tombstones.integration || ':' || {% endif %}tombstones.record_id
    from ({{ pending_tombstones(entity) }}) as tombstones
    where not exists (select 1 from {{ relation }} as r where {{ raw_key }} = tombstones.record_id
                      {%- if key_prefix %} and r._integration = tombstones.integration{% endif %})
{%- endmacro %}

{# ---- consumers ---- #}

{% macro _table_exists(relation) -%}
    {{ return(_tables_existing([relation]) | length > 0) }}
{%- endmacro %}

{# Which of `relations` exist (their identifiers), in one catalog query: a lookup costs ~15 ms, and a plan used to
   make one per input. The catalog, not dbt's relation cache: tables these hooks make by statement are not in it. #}
{% macro _tables_existing(relations) -%}
    {%- set wanted = [] -%}
    {%- for relation in relations -%}
        {%- do wanted.append("(table_schema = '" ~ relation.schema ~ "' and table_name = '" ~ relation.identifier ~ "')") -%}
    {%- endfor -%}
    {%- set found = run_query("select table_name from information_schema.tables where " ~ wanted | join(' or ')) -%}
    {{ return(found.rows | map(attribute=0) | list) }}
{%- endmacro %}

{% macro _per_key_relation(suffix) -%}
    {{ return(api.Relation.create(database=this.database, schema=this.schema, identifier=this.identifier ~ suffix)) }}
{%- endmacro %}

{# What a watched input (per_key_watch) is now, as a query returning one text: it differs from the last build's when
   the input changed. #}
{% macro _watch_sql(name) -%}
    {%- if name.startswith('source:') -%}
        {%- set parts = name[7:].split('.') -%}
        {{ return("select cast(count(*) as " ~ text_type() ~ ") || '@' || coalesce(cast(max(_loaded_at) as "
                  ~ text_type() ~ "), '') from " ~ source(parts[0], parts[1])) }}
    {%- elif name == 'custom_systems' -%}
        {{ return("select coalesce(string_agg(system, ',' order by system), '') from (select distinct system from ("
                  ~ custom_email_consent() ~ ") as consent) as systems") }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("per_key_watch: unknown input " ~ name) }}
    {%- endif -%}
{%- endmacro %}

{# The build's plan: {'all': whether every key is rebuilt, 'marks': input -> what this build consumes up to,
   'since': logged input -> the seq consumed last time}. The same before the build (compiling the model's SQL), in its
   pre-hook and in its strategy: nothing it reads changes in between. Everything it reads comes in ONE query (what
   this model consumed, each input log's newest and oldest seq and newest full rebuild, each watched input's value),
   one row per item, as text: a query per item made a plan ~20 statements, twice per build. #}
{% macro per_key_plan() -%}
    {%- set plan = {'all': true, 'marks': {}, 'since': {}} -%}
    {#- a dbt unit test of the model (its `this` names no table): its given rows, every key -#}
    {%- if not execute or not this.identifier -%}{{ return(plan) }}{%- endif -%}
    {%- set text = text_type() -%}
    {%- set parts = [] -%}
    {%- set consumed_rel = _per_key_relation('__consumed') -%}
    {%- set checked = [consumed_rel] -%}
    {%- for name in config.get('per_key_inputs', []) -%}{%- do checked.append(change_log_relation(ref(name))) -%}{%- endfor -%}
    {%- set existing = _tables_existing(checked) -%}
    {%- if consumed_rel.identifier in existing -%}
        {%- do parts.append("select cast('consumed' as " ~ text ~ ") as kind, input, mark as newest, cast(null as "
                            ~ text ~ ") as oldest, cast(null as " ~ text ~ ") as newest_full from " ~ consumed_rel) -%}
    {%- endif -%}
    {%- set ns = namespace(all=(not is_incremental()) or incremental_code_changed()) -%}
    {%- set logged = [] -%}
    {%- for name in config.get('per_key_inputs', []) -%}
        {%- set log = change_log_relation(ref(name)) -%}
        {%- if log.identifier not in existing -%}
            {%- set ns.all = true -%}
        {%- else -%}
            {%- do logged.append(name) -%}
            {%- do parts.append("select cast('log' as " ~ text ~ "), cast('" ~ name ~ "' as " ~ text ~ "), cast(max(seq) as "
                                ~ text ~ "), cast(min(seq) as " ~ text ~ "), cast(max(case when is_full then seq end) as "
                                ~ text ~ ") from " ~ log) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name in config.get('per_key_watch', []) -%}
        {%- do parts.append("select cast('watch' as " ~ text ~ "), cast('" ~ name ~ "' as " ~ text ~ "), ("
                            ~ _watch_sql(name) ~ "), cast(null as " ~ text ~ "), cast(null as " ~ text ~ ")") -%}
    {%- endfor -%}
    {%- set consumed, logs, watched = {}, {}, {} -%}
    {%- if parts | length > 0 -%}
        {%- for row in run_query(parts | join(' union all ')).rows -%}
            {%- if row[0] == 'consumed' -%}{%- do consumed.update({row[1]: (row[2] | string) if row[2] is not none else none}) -%}
            {%- elif row[0] == 'log' -%}{%- do logs.update({row[1]: [row[2], row[3], row[4]]}) -%}
            {%- else -%}{%- do watched.update({row[1]: row[2] | string}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for name in logged -%}
        {%- set row = logs[name] -%}
        {%- set since = consumed.get(name) -%}
        {%- set since_seq = (since | int) if since is not none else -1 -%}
        {%- if row[0] is none -%}
            {%- do plan['marks'].update({name: '0'}) -%}
            {%- set ns.all = ns.all or since is none -%}
        {%- else -%}
            {%- do plan['marks'].update({name: row[0] | int | string}) -%}
            {%- do plan['since'].update({name: since_seq}) -%}
            {%- if since is none or since_seq < (row[1] | int) - 1
                  or (row[2] is not none and (row[2] | int) > since_seq) -%}{%- set ns.all = true -%}{%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name in config.get('per_key_watch', []) -%}
        {%- set value = watched[name] -%}
        {%- do plan['marks'].update({name: value}) -%}
        {%- if consumed.get(name) != value -%}{%- set ns.all = true -%}{%- endif -%}
    {%- endfor -%}
    {%- do plan.update({'all': ns.all}) -%}
    {{ return(plan) }}
{%- endmacro %}

{# In the model's SQL, once: K's table, or none when every key is rebuilt. Then on each input:
   `where {{ per_key_match('email_key', keys) }}`, true when every key is rebuilt, else `email_key in K`. #}
{% macro per_key_keys() -%}
    {{ return(none if per_key_plan()['all'] else _per_key_relation('__keys')) }}
{%- endmacro %}

{% macro per_key_match(column, keys) -%}
    {%- if keys is none -%}
    true
    {%- else -%}
    {{ column }} in (select per_key.email_key from {{ keys }} as per_key)
    {%- endif -%}
{%- endmacro %}

{# Pre-hook of a consumer: K (`<model>__keys`: email_key and its customer_token; one row with is_all when every key is
   rebuilt) and the marks this build consumes up to (`<model>__pending`, made the consumed ones by per_key_finish). #}
{% macro per_key_prepare() -%}
    {%- set plan = per_key_plan() -%}
    {%- set keys = _per_key_relation('__keys') -%}
    {%- set pending = _per_key_relation('__pending') -%}
    {%- set marks = [] -%}
    {%- for name, mark in plan['marks'].items() -%}
        {%- do marks.append("select cast('" ~ name ~ "' as " ~ text_type() ~ ") as input, cast('"
                            ~ (mark | replace("'", "''")) ~ "' as " ~ text_type() ~ ") as mark") -%}
    {%- endfor -%}
    {%- do marks.append("select cast(null as " ~ text_type() ~ ") as input, cast(null as " ~ text_type()
                        ~ ") as mark") -%}
    {#- one hook statement (a statement costs dbt a round of its own, ~10 ms on top of its SQL) -#}
    drop table if exists {{ keys }};
    drop table if exists {{ pending }};
    create table {{ pending }} as select * from ({{ marks | join(' union all ') }}) as marks where input is not null;
    create table {{ keys }} as
    {% if plan['all'] -%}
    select cast(null as {{ text_type() }}) as email_key, cast(null as {{ text_type() }}) as customer_token,
           true as is_all
    {%- else -%}
    select email_key, {{ mask_id('email_key') }} as customer_token, false as is_all
    from (
        {%- for name, since in plan['since'].items() %}
        {% if not loop.first %}union {% endif -%}
        select email_key from {{ change_log_relation(ref(name)) }}
        where email_key is not null and seq > {{ since }} and seq <= {{ plan['marks'][name] }}
        {%- endfor %}
        {% if plan['since'] | length == 0 %}select cast(null as {{ text_type() }}) as email_key where false{% endif %}
    ) as changed
    {%- endif %}
{%- endmacro %}

{# The strategy of the consumers: delete the rows of K (every row when is_all), insert the recomputed rows, and log K
   (or is_full) for the per-key models that read this one. #}
{% macro get_incremental_per_key_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set column = config.get('per_key_column', 'email_key') -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    {%- set keys = _per_key_relation('__keys') -%}
    {%- set log = change_log_relation(this) -%}
    delete from {{ target }} where exists (select 1 from {{ keys }} where is_all);
    delete from {{ target }} where {{ column }} in (select {{ column }} from {{ keys }} where not is_all);
    insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ temp }};
    insert into {{ log }} (seq, email_key, is_full)
    select coalesce(max(seq), 0) + 1, cast(null as {{ text_type() }}),
           exists (select 1 from {{ keys }} where is_all) from {{ log }};
    insert into {{ log }} (seq, email_key, is_full)
    select (select max(seq) from {{ log }}), email_key, false from {{ keys }} where not is_all
{%- endmacro %}

{# Post-hook of a consumer: what it consumed becomes the starting point of its next build. #}
{% macro per_key_finish() -%}
    {%- set consumed = _per_key_relation('__consumed') -%}
    drop table if exists {{ consumed }};
    create table {{ consumed }} as select input, mark from {{ _per_key_relation('__pending') }}
{%- endmacro %}

{# ---- vars a staging model's SQL renders ---- #}

{# A model whose SQL renders vars (`built_vars`, e.g. the policy's codings: stg_cdp__profiles and stg_custom__people
   band ages with them) rebuilds from all of raw when they changed since its table was built, as after a change of
   its SQL: a row built under the old codings must not keep the old band. The vars' digest is kept beside the table
   in `<model>__built_vars` (record_built_vars). #}
{% macro built_vars_changed() -%}
    {%- if not execute or (config.get('built_vars') or []) | length == 0 -%}{{ return(false) }}{%- endif -%}
    {%- set state = _per_key_relation('__built_vars') -%}
    {%- if not _table_exists(state) -%}{{ return(true) }}{%- endif -%}
    {%- set found = run_query("select digest from " ~ state) -%}
    {{ return(found.rows | length != 1 or found.rows[0][0] != _built_vars_digest()) }}
{%- endmacro %}

{% macro _built_vars_digest() -%}
    {%- set parts = [] -%}
    {%- for name in config.get('built_vars') or [] -%}
        {%- do parts.append(name ~ '=' ~ tojson(var(name), sort_keys=true)) -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('|'))) }}
{%- endmacro %}

{# Post-hook: remember the digest of the vars this build rendered (see built_vars_changed). #}
{% macro record_built_vars() -%}
    {%- set state = _per_key_relation('__built_vars') -%}
    drop table if exists {{ state }};
    create table {{ state }} as select cast('{{ _built_vars_digest() }}' as {{ text_type() }}) as digest
{%- endmacro %}

{# latest_records_since (macros/incremental_events.sql) that also reads all of raw again when the model's vars
   changed (built_vars_changed). #}
{% macro people_records_since(relation, key) -%}
    {%- if is_incremental() and built_vars_changed() -%}
    {{ first_row_per('select * from ' ~ relation, '_integration, ' ~ key, '_loaded_at desc, _batch_id desc') }}
    {%- else -%}
    {{ latest_records_since(relation, key) }}
    {%- endif -%}
{%- endmacro %}
