{#
  Closed-form statistics for the drift mart, as plain SQL expressions (DuckDB has no erf or
  Kolmogorov distribution built in, and a Python model would pull the calls out of DuckDB).
  tests/unit/test_drift_stats_sql.py checks both against scipy across their range.
#}

{# erfc(x) for x >= 0: Numerical Recipes' Chebyshev fit `erfcc`, fractional (relative) error
   below 1.2e-7 everywhere, so tail p-values (1e-9 and smaller) keep their digits. #}
{% macro erfc_nonnegative(x) -%}
(
    (1.0 / (1.0 + 0.5 * ({{ x }}))) * exp(
        -({{ x }}) * ({{ x }}) - 1.26551223 + (1.0 / (1.0 + 0.5 * ({{ x }}))) * (1.00002368
        + (1.0 / (1.0 + 0.5 * ({{ x }}))) * (0.37409196
        + (1.0 / (1.0 + 0.5 * ({{ x }}))) * (0.09678418
        + (1.0 / (1.0 + 0.5 * ({{ x }}))) * (-0.18628806
        + (1.0 / (1.0 + 0.5 * ({{ x }}))) * (0.27886807
        + (1.0 / (1.0 + 0.5 * ({{ x }}))) * (-1.13520398
        + (1.0 / (1.0 + 0.5 * ({{ x }}))) * (1.48851587
        + (1.0 / (1.0 + 0.5 * ({{ x }}))) * (-0.82215223
        + (1.0 / (1.0 + 0.5 * ({{ x }}))) * 0.17087277))))))))
    )
)
{%- endmacro %}

{# Two-sided p-value of a standard normal z: P(|Z| >= |z|) = erfc(|z| / sqrt 2). #}
{% macro normal_two_sided_p(z) -%}
{{ erfc_nonnegative('abs(' ~ z ~ ') / sqrt(2.0)') }}
{%- endmacro %}

{# The Kolmogorov survival function Q(lambda) = 2 * sum_{j>=1} (-1)^(j-1) exp(-2 j^2 lambda^2),
   the asymptotic p-value of a two-sample KS statistic D with lambda = D * sqrt(n m / (n + m)).
   The series alternates with shrinking terms, so stopping after j = 20 errs by less than the
   first omitted term: below 1e-15 for lambda >= 0.2. Below 0.2, Q is 1 to within 1e-10
   and the series converges slowly, so it returns 1. #}
{% macro kolmogorov_sf(lam) -%}
(
    case
        when ({{ lam }}) < 0.2 then 1.0
        else least(1.0, greatest(0.0, 2.0 * (
            {%- for j in range(1, 21) %}
            {{ '+' if j % 2 == 1 else '-' }} exp(-2.0 * {{ j * j }} * ({{ lam }}) * ({{ lam }}))
            {%- endfor %}
        )))
    end
)
{%- endmacro %}
