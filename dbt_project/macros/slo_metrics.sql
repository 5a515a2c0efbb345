{#
  The SLO figures over a group of calls (rows of int_call_outcomes): one definition, used by
  slo_daily (a day) and slo_rolling (a trailing window), so a rate or percentile means the same
  in both. Percentiles are DuckDB's quantile_cont (linear interpolation) over the group's calls.
#}
{% macro slo_metrics() -%}
        count(*) as calls,
        count(*) filter (where is_error) as error_calls,
        count(*) filter (where is_error) / count(*) as error_rate,
        round(quantile_cont(latency_ms, 0.50), 3) as latency_p50_ms,
        round(quantile_cont(latency_ms, 0.95), 3) as latency_p95_ms,
        round(quantile_cont(latency_ms, 0.99), 3) as latency_p99_ms,
        sum(cost_usd) as cost_total_usd,
        avg(cost_usd) as cost_per_request_usd,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        count(*) filter (where is_scored) as scored_calls,
        count(*) filter (where is_passed) as passed_calls,
        passed_calls / nullif(scored_calls, 0) as pass_rate,
        sum(judge_cost_usd) as judge_cost_usd
{%- endmacro %}
