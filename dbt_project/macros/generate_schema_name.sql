{# Use the folder's schema name as-is (staging, governance) rather than dbt's "<target>_<custom>" default,
   so the warehouse reads the same on DuckDB and PostgreSQL. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
