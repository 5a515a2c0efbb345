{#
  The partition window of an incremental run: `run_days()` (macros/run_vars.sql: the days the
  Dagster run materialised). On an incremental run with days, only those days are read and
  rebuilt (delete+insert on `day`); on a full build (no table yet, --full-refresh, or no days)
  everything is. A day list is validated: anything but YYYY-MM-DD is an error, never SQL.
#}
{% macro partition_days_list() -%}
  {%- set days = run_days() -%}
  {%- for day in days -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', day | string) -%}
      {{ exceptions.raise_compiler_error("var days: expected YYYY-MM-DD dates, got " ~ day) }}
    {%- endif -%}
    cast('{{ day }}' as date){% if not loop.last %}, {% endif %}
  {%- endfor -%}
{%- endmacro %}

{% macro partition_days_filter(column) -%}
  {%- if is_incremental() and run_days() -%}
    where {{ column }} in ({{ partition_days_list() }})
  {%- endif -%}
{%- endmacro %}

{#- A pre-hook: the days are emptied first, so a day that now has no rows (re-ingested empty)
    loses its old ones too; delete+insert alone only replaces days present in the new rows. #}
{% macro delete_partition_days(column) -%}
  {%- if is_incremental() and run_days() -%}
    delete from {{ this }} where {{ column }} in ({{ partition_days_list() }})
  {%- endif -%}
{%- endmacro %}
