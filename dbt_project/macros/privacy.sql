{# Hex SHA-256 of a normalised email: the identifier Google Customer Match and the erasure log hold instead of the
   address, so matching them never needs the address itself outside the systems that already hold it. #}
{% macro sha256_hex(expr) -%}
    {{ return(adapter.dispatch('sha256_hex', 'steward')(expr)) }}
{%- endmacro %}

{# DuckDB's sha256() gives lower-case hex text already (so does Databricks' sha2(expr, 256)). #}
{% macro default__sha256_hex(expr) -%}
    sha256({{ expr }})
{%- endmacro %}

{# PostgreSQL's sha256() takes and gives bytea. #}
{% macro postgres__sha256_hex(expr) -%}
    encode(sha256(convert_to({{ expr }}, 'UTF8')), 'hex')
{%- endmacro %}

{# True when `expr` matches any of the shell-style globs (`*`, `?`) from policy; an empty list matches nothing.
   `_` and `%` are literal in a glob, so they are escaped before `*`/`?` become LIKE wildcards. #}
{% macro matches_any_glob(expr, globs) -%}
    {%- if not globs -%} false {%- else -%}
    ({%- for g in globs -%}
        {{ expr }} like '{{ g | lower | replace("\\", "\\\\") | replace("%", "\\%") | replace("_", "\\_") | replace("*", "%") | replace("?", "_") }}' escape '\'
        {%- if not loop.last %} or {% endif -%}
    {%- endfor -%})
    {%- endif -%}
{%- endmacro %}

{# A quoted list of SQL string literals from a list of policy values (validated to hold no quotes). #}
{% macro sql_list(values) -%}
    {%- for v in values %}'{{ v }}'{% if not loop.last %}, {% endif %}{% endfor -%}
{%- endmacro %}
