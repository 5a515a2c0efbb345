-- Returns the rows that break the statistics' invariants (a passing test returns none):
-- p-values in [0, 1], Holm's adjusted p never below the raw one, a delta wherever cases paired.
select *
from {{ ref('candidate_metric_comparison') }}
where mcnemar_p < 0 or mcnemar_p > 1
    or holm_p < mcnemar_p - 1e-12 or holm_p > 1
    or (paired_cases > 0 and mean_delta is null)
