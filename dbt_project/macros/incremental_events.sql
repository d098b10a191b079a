{# Event-grain staging (email events, Marketo activities, AI decisions) is built incrementally: a run reads only the
   raw batches landed since the model's last build, and replaces by key what they bring (delete+insert on the key,
   which dbt-duckdb and dbt-postgres both run). Raw tables are append-only per batch with `_loaded_at` set when the
   batch landed, so everything the table has not read yet is at or after the newest `_loaded_at` of the batches it
   has read. The watermark is that instant, kept with the ids of the batches read in a small table beside the model,
   `<model>__read_batches` (one row per raw batch: `_batch_id`, `_loaded_at`; written by the post-hook
   `record_read_batches`), so finding it reads a few thousand rows, not a column of the built table (scanning 10M
   `_batch_id`s for the held batches cost more than the day's 100k new events). Any earlier watermark is also correct
   (the newest version of a key still wins, the rows are only read again), a later one never occurs: a run holds the
   warehouse's writer lock from landing to transform, so no batch lands between the model's read and its post-hook.
   Rows AT the watermark instant are read again only when a batch the model has not read shares that instant (two
   batches landed in the same microsecond): then the whole instant is read, so `_batch_id` decides between their
   versions of a key exactly as a full refresh would. Without such a tie nothing at the instant is new, and a run
   with nothing landed reads nothing (re-reading the newest batch cost 26 s when the first landing brought 10M
   events in one batch). A table built before the state table existed, or whose state table is gone, reads all of
   raw once (as after `--full-refresh`), which writes the state. #}
{% macro latest_records_since(relation, key) -%}
    {%- set query -%}
    select *
    from {{ relation }}
    {%- if reads_only_new_batches() %}
    where {{ unread_batches(relation) }}
    {%- endif %}
    {%- endset %}
    {{ first_row_per(query, '_integration, ' ~ key, '_loaded_at desc, _batch_id desc') }}
{%- endmacro %}

{# Whether this build reads only the batches it has not read yet: an incremental build of a model whose SQL is the
   one its table was built from, with its read batches kept. Otherwise it reads everything again. #}
{% macro reads_only_new_batches() -%}
    {{ return(is_incremental() and not incremental_code_changed() and _read_batches_kept()) }}
{%- endmacro %}

{# The condition on `relation`'s rows (it has `_loaded_at` and `_batch_id`) that keeps the batches this model has not
   read: those after the watermark, and the whole watermark instant when a batch landed at that instant is unread.
   `batches` (SQL with `_batch_id`, `_loaded_at`) lists the batches landed: by default ledger.batches, where landing
   records each batch with its `_loaded_at`; a model incremental on another model passes that model's read batches
   (`read_batches_of`). Looking for a tie there reads a few rows, where raw holds every row of the watermark's batch
   (10M after a first landing). The watermark is read from the state table when the SQL is rendered and written
   into it as a literal (the instant as text, with its offset, cast back: exact on DuckDB and PostgreSQL), so a scan
   of `relation` skips the row groups before it: a comparison with a subquery made DuckDB read all 10M
   `_loaded_at`s (2 s) to find the day's batch. #}
{% macro unread_batches(relation, batches=none) -%}
    {%- set at = _watermark_literal() -%}
    {%- if at is none -%}{{ return('1 = 1') }}{%- endif -%}
    {%- set landed = batches or _landed_batches() -%}
    {%- set tied = run_query("select count(*) from (" ~ landed ~ ") as tied where tied._loaded_at = " ~ at
                             ~ " and tied._batch_id not in (select read._batch_id from " ~ _read_batches()
                             ~ " as read)") -%}
    {{ return("_loaded_at " ~ (">=" if tied.rows[0][0] > 0 else ">") ~ " (" ~ at ~ ")") }}
{%- endmacro %}

{% macro _landed_batches() -%}
    {{ return("select ledger.batch_id as _batch_id, ledger.loaded_at as _loaded_at from "
              ~ source('steward', 'batches') ~ " as ledger") }}
{%- endmacro %}

{# The batches another incremental model has read, for `unread_batches(..., batches=...)`. #}
{% macro read_batches_of(model_relation) -%}
    {%- set state = api.Relation.create(database=model_relation.database, schema=model_relation.schema,
                                        identifier=model_relation.identifier ~ '__read_batches') -%}
    {{ return("select upstream._batch_id, upstream._loaded_at from " ~ state ~ " as upstream") }}
{%- endmacro %}

{# The newest `_loaded_at` of the raw batches the model has read, as a literal; none while it has read none (and
   when not executing). #}
{% macro _watermark_literal() -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set found = run_query("select cast(max(read._loaded_at) as " ~ text_type() ~ ") from " ~ _read_batches()
                              ~ " as read") -%}
    {%- set watermark = found.rows[0][0] -%}
    {%- if watermark is none -%}{{ return(none) }}{%- endif -%}
    {{ return("cast('" ~ watermark ~ "' as " ~ instant_type() ~ ")") }}
{%- endmacro %}

{# The newest `_loaded_at` of the raw batches the model has read, as a literal; -infinity while it has read none. #}
{% macro _watermark() -%}
    {%- set at = _watermark_literal() -%}
    {{ at if at is not none else "cast('-infinity' as " ~ instant_type() ~ ")" }}
{%- endmacro %}

{% macro _read_batches() -%}
    {{ return(api.Relation.create(database=this.database, schema=this.schema,
                                  identifier=this.identifier ~ '__read_batches')) }}
{%- endmacro %}

{% macro _read_batches_kept() -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {{ return(adapter.get_relation(database=this.database, schema=this.schema,
                                   identifier=this.identifier ~ '__read_batches') is not none) }}
{%- endmacro %}

{# Post-hook: remember which raw batches the model has now read (see latest_records_since). Incrementally, the
   batches at or after the watermark that the state does not hold yet: exactly those the build just read (every raw
   batch landed after the watermark, and a tie at it), found through `_loaded_at` (raw is appended in landing order,
   so the range is the new rows' few row groups). A full build (first, `--full-refresh`, SQL changed, or no state
   yet) writes every batch `relation` holds; a model that reads all of another incremental model (`upstream`)
   takes that model's state instead of grouping its rows (it has read every batch that model has). It must run
   before `record_incremental_state`, as listed in the models. #}
{% macro record_read_batches(relation, upstream=none) -%}
    {%- set state = _read_batches() -%}
    {%- if reads_only_new_batches() -%}
    insert into {{ state }} (_batch_id, _loaded_at)
    select raw._batch_id, max(raw._loaded_at)
    from {{ relation }} as raw
    where raw._loaded_at >= ({{ _watermark() }})
      and raw._batch_id is not null
      and raw._batch_id not in (select read._batch_id from {{ state }} as read)
    group by raw._batch_id
    {%- else -%}
    {%- set upstream_state = adapter.get_relation(database=upstream.database, schema=upstream.schema,
                                                  identifier=upstream.identifier ~ '__read_batches')
                             if upstream is not none and execute else none -%}
    {%- do run_query("drop table if exists " ~ state) -%}
    create table {{ state }} as
    {%- if upstream_state is not none %}
    select _batch_id, _loaded_at from {{ upstream_state }}
    {%- else %}
    select cast(raw._batch_id as {{ text_type() }}) as _batch_id, max(raw._loaded_at) as _loaded_at
    from {{ relation }} as raw
    where raw._batch_id is not null
    group by raw._batch_id
    {%- endif %}
    {%- endif -%}
{%- endmacro %}

{# Post-hook of an incremental staging model: a record the platform reported deleted after its row was built leaves
   the table too. Landing records the deletion as a tombstone (ledger.tombstones) and deletes the record's rows from
   raw, so no new batch brings anything for delete+insert to replace; a record landed again later loses its
   tombstone (and `not exists` keeps a key another integration still holds). Only tombstones seen at or after the
   watermark this build started from can name a row still in the table: an older one landed before a batch an
   earlier build read, so that build's post-hook applied it (landing stamps a tombstone's `seen_at` with its batch's
   `_loaded_at`). When there is none, as on most days, nothing is deleted and the table is not probed at all; the
   few there are probe raw's keys, no anti-join of the whole table. Without the state table (a table built before
   it existed) every tombstone is applied. `key_prefix` is for a model whose key is the record's id behind a prefix
   (int_email_sends__addressed: 'hubspot:<id>'). Rows that leave raw any other way (re-validation moving them to
   quarantine, a hand-made delete) need `steward run --full-refresh`. It must run before `record_read_batches`. #}
{% macro delete_tombstoned(model_key, entity, relation, raw_key, key_prefix=none) -%}
    {%- if is_incremental() and tombstones_pending(entity) -%}
    delete from {{ this }}
    where {{ model_key }} in (
        select {% if key_prefix %}'{{ key_prefix }}' || {% endif %}pending.record_id
        from ({{ pending_tombstones(entity) }}) as pending
        where not exists (select 1 from {{ relation }} as r where {{ raw_key }} = pending.record_id)
    )
    {%- endif -%}
{%- endmacro %}

{# The tombstones of `entity` a build applies (delete_tombstoned above, and per_key.sql's log_tombstoned and
   delete_tombstoned_prefixed, which log and delete the same rows): those seen at or after the watermark the build
   started from, every one without the state table. Columns: record_id, integration. #}
{% macro pending_tombstones(entity) -%}
    select tombstones.record_id, tombstones.integration
    from {{ source('steward', 'tombstones') }} as tombstones
    where tombstones.entity = '{{ entity }}'
    {%- if _read_batches_kept() %}
      and tombstones.seen_at >= ({{ _watermark() }})
    {%- endif %}
{%- endmacro %}

{# Whether there is any (a count over the small ledger table): when there is none, as on most days, the hooks render
   nothing (dbt runs no empty hook) and never probe the built table or raw (an anti-join of raw's 10M event ids took 4 s). #}
{% macro tombstones_pending(entity) -%}
    {%- if not execute -%}{{ return(true) }}{%- endif -%}
    {%- set found = run_query("select count(*) from (" ~ pending_tombstones(entity) ~ ") as pending") -%}
    {{ return(found.rows[0][0] > 0) }}
{%- endmacro %}

{# Whether this model's SQL changed since its table was last built: then every raw row is read again (and replaces its
   key), as after `--full-refresh`, instead of only the new batches, so no row keeps what the old SQL computed. The
   checksum of the model's SQL file is kept in a one-row table beside it, `<model>__built_from`, written by
   `record_incremental_state` (one table per model: models build in parallel). A model incremental on another model
   (int_email_sends__addressed reads the email events through int_email_events__attributed) names those models in
   `meta: {incremental_upstream: [...]}`, and their SQL is in its checksum too: when the events are read again
   because their SQL changed, so are the sends. A change of a macro the model calls is not in the checksum: run
   `steward run --full-refresh` after one. #}
{% macro incremental_code_changed() -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- set state = adapter.get_relation(database=this.database, schema=this.schema,
                                         identifier=this.identifier ~ '__built_from') -%}
    {%- if state is none -%}{{ return(true) }}{%- endif -%}
    {%- set found = run_query("select checksum from " ~ state) -%}
    {{ return(found.rows | length != 1 or found.rows[0][0] != _built_from_checksum()) }}
{%- endmacro %}

{# The model's checksum, with those of the models named in its meta `incremental_upstream` (see above). #}
{% macro _built_from_checksum() -%}
    {%- set upstream = (model.config.meta or {}).get('incremental_upstream', []) -%}
    {%- if not upstream -%}{{ return(model.checksum.checksum) }}{%- endif -%}
    {%- set parts = [model.checksum.checksum] -%}
    {%- for name in upstream -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == name -%}
    {%- do parts.append(node.checksum.checksum) -%}
    {%- endfor -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('|'))) }}
{%- endmacro %}

{# Post-hook: remember the checksum of the SQL this build used (see incremental_code_changed). #}
{% macro record_incremental_state() -%}
    {%- set state = api.Relation.create(database=this.database, schema=this.schema,
                                        identifier=this.identifier ~ '__built_from') -%}
    drop table if exists {{ state }};
    create table {{ state }} as select cast('{{ _built_from_checksum() }}' as {{ text_type() }}) as checksum
{%- endmacro %}

{# Post-hook of an incremental model whose key test reads the violations kept beside it (`primary_key` with
   `kept: true`): the table `<model>__key_violations` (key_value, n_records) holds, after every build, exactly the
   rows `primary_key`'s full scan would return (null keys possibly split over several rows, which the test sums),
   at the cost of the new rows instead of the whole table. Why keeping it is exact:
   - delete+insert deletes every row of a key the new rows bring, and delete_tombstoned every row of a tombstoned
     key; nothing else changes the table. So all the rows of a key come from one build, and a key no build since
     touched keeps its rows and its count: its violation (or none) still holds.
   - The rows a build inserted are the rows matching `unread_batches` (with the state the build started from): every
     key among them has all its rows among them, so grouping them gives those keys' exact counts. Their old entries
     go, the new counts of those above one come in.
   - A key whose rows a tombstone removed has no rows left: its entry goes (checked only while any non-null entry
     exists, i.e. never on clean data).
   - Rows with a null key are never deleted by either (null matches no key): the new ones are added as one more
     entry. A model that reads all of raw again (first build, `--full-refresh`, SQL changed, no state yet)
     recounts its whole table, which is what the test scanned before.
   It must run after delete_tombstoned and before record_read_batches. #}
{% macro record_key_violations(key) -%}
    {%- set kept = api.Relation.create(database=this.database, schema=this.schema,
                                       identifier=this.identifier ~ '__key_violations') -%}
    {%- set exists = execute and adapter.get_relation(database=this.database, schema=this.schema,
                                                       identifier=this.identifier ~ '__key_violations') is not none -%}
    {%- if exists and reads_only_new_batches() -%}
    {%- set written = unread_batches(this) -%}
    {%- set left_over = run_query("select count(*) from " ~ kept ~ " where key_value is not null") -%}
    {%- if left_over.rows[0][0] > 0 -%}
    {%- do run_query("delete from " ~ kept ~ " where key_value in (select built." ~ key ~ " from " ~ this
                     ~ " as built where " ~ written ~ ")") -%}
    {%- do run_query("delete from " ~ kept ~ " where key_value is not null and key_value not in (select built."
                     ~ key ~ " from " ~ this ~ " as built where built." ~ key ~ " in (select key_value from " ~ kept
                     ~ " where key_value is not null))") -%}
    {%- endif -%}
    insert into {{ kept }} (key_value, n_records)
    select {{ key }}, count(*)
    from {{ this }}
    where {{ written }}
    group by {{ key }}
    having {{ key }} is null or count(*) > 1
    {%- else -%}
    {%- do run_query("drop table if exists " ~ kept) -%}
    create table {{ kept }} as
    select {{ key }} as key_value, count(*) as n_records
    from {{ this }}
    group by {{ key }}
    having {{ key }} is null or count(*) > 1
    {%- endif -%}
{%- endmacro %}
