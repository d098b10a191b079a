{# Event-grain staging (email events, Marketo activities, AI decisions) is built incrementally: a run reads only the
   raw batches landed since the model's last build, and replaces by key what they bring (delete+insert on the key,
   which dbt-duckdb and dbt-postgres both run). Raw tables are append-only per batch with `_loaded_at` set when the
   batch landed, so everything the table has not seen yet is at or after the newest `_loaded_at` of the batches it
   holds. The watermark is that instant, read from raw through the batch ids the table keeps: any earlier watermark
   is also correct (the newest version of a key still wins, the rows are only read again), a later one never occurs.
   Rows AT the watermark instant are read again only when a batch the table does not hold shares that instant (two
   batches landed in the same microsecond): then the whole instant is read, so `_batch_id` decides between their
   versions of a key exactly as a full refresh would. Without such a tie nothing at the instant is new, and a run
   with nothing landed reads nothing (re-reading the newest batch cost 26 s when the first landing brought 10M
   events in one batch). The held batch ids come from a scan of one column of the built table. #}
{% macro latest_records_since(relation, key) -%}
    {%- set query -%}
    select *
    from {{ relation }}
    {%- if is_incremental() and not incremental_code_changed() %}
    where _loaded_at > ({{ _watermark(relation) }})
       or _loaded_at = (
           select max(tied._loaded_at)
           from {{ relation }} as tied
           where tied._loaded_at = ({{ _watermark(relation) }})
             and tied._batch_id not in ({{ _held_batches() }})
       )
    {%- endif %}
    {%- endset %}
    {{ first_row_per(query, '_integration, ' ~ key, '_loaded_at desc, _batch_id desc') }}
{%- endmacro %}

{# The newest `_loaded_at` of the raw batches the built table holds; -infinity while it holds none. #}
{% macro _watermark(relation) -%}
    select coalesce(max(loaded._loaded_at), cast('-infinity' as {{ instant_type() }}))
    from {{ relation }} as loaded
    where loaded._batch_id in ({{ _held_batches() }})
{%- endmacro %}

{% macro _held_batches() -%}
    select distinct built._batch_id from {{ this }} as built where built._batch_id is not null
{%- endmacro %}

{# Post-hook of an incremental staging model: a record the platform reported deleted after its row was built leaves
   the table too. Landing records the deletion as a tombstone (ledger.tombstones) and deletes the record's rows from
   raw, so no new batch brings anything for delete+insert to replace; a record landed again later loses its
   tombstone (and `not exists` keeps a key another integration still holds). The tombstones are few: this reads them
   and probes raw's keys against them, no anti-join of the whole table. Rows that leave raw any other way (re-validation
   moving them to quarantine, a hand-made delete) need `steward run --full-refresh`. #}
{% macro delete_tombstoned(model_key, entity, relation, raw_key) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where {{ model_key }} in (
        select tombstones.record_id
        from {{ source('steward', 'tombstones') }} as tombstones
        where tombstones.entity = '{{ entity }}'
          and not exists (select 1 from {{ relation }} as r where {{ raw_key }} = tombstones.record_id)
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{# Whether this model's SQL changed since its table was last built: then every raw row is read again (and replaces its
   key), as after `--full-refresh`, instead of only the new batches, so no row keeps what the old SQL computed. The
   checksum of the model's SQL file is kept in a one-row table beside it, `<model>__built_from`, written by
   `record_incremental_state` (one table per model: models build in parallel). A change of a macro the model calls
   is not in the checksum: run `steward run --full-refresh` after one. #}
{% macro incremental_code_changed() -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- set state = adapter.get_relation(database=this.database, schema=this.schema,
                                         identifier=this.identifier ~ '__built_from') -%}
    {%- if state is none -%}{{ return(true) }}{%- endif -%}
    {%- set found = run_query("select checksum from " ~ state) -%}
    {{ return(found.rows | length != 1 or found.rows[0][0] != model.checksum.checksum) }}
{%- endmacro %}

{# Post-hook: remember the checksum of the SQL this build used (see incremental_code_changed). #}
{% macro record_incremental_state() -%}
    {%- set state = api.Relation.create(database=this.database, schema=this.schema,
                                        identifier=this.identifier ~ '__built_from') -%}
    {%- do run_query("drop table if exists " ~ state) -%}
    create table {{ state }} as select cast('{{ model.checksum.checksum }}' as {{ text_type() }}) as checksum
{%- endmacro %}
