{#
  The values the Dagster asset sets for one build (the run's baseline, dataset version, days,
  gate statistics and replay timeout; assets/slo_marts.py `dbt_run_env`), read from environment
  variables ASSAY_DBT_<NAME> rather than `--vars`: any change of `--vars` makes dbt re-parse the
  whole project (about 5 s of every build), while a changed environment variable re-parses only
  the files that read it. Unset, the value is `var(name)`, so `dbt build --vars '{...}'` by hand
  and the unit tests' `overrides: vars:` work as before.
#}
{% macro run_var(name) -%}
  {%- set value = env_var('ASSAY_DBT_' ~ (name | upper), '') -%}
  {{- return(value if value != '' else var(name)) -}}
{%- endmacro %}

{#- The days of the run (ASSAY_DBT_DAYS: YYYY-MM-DD,YYYY-MM-DD...), else var('days'). -#}
{% macro run_days() -%}
  {%- set value = env_var('ASSAY_DBT_DAYS', '') -%}
  {{- return(value.split(',') if value != '' else var('days', [])) -}}
{%- endmacro %}
