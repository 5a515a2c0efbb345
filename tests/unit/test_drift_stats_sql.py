"""The closed-form statistics of the drift mart (dbt_project/macros/drift_stats.sql), rendered
as dbt renders them and evaluated by DuckDB, against math.erfc and the Kolmogorov distribution
computed independently here: the error bounds the drift.yml documentation promises."""

import math
from pathlib import Path

import duckdb
import jinja2
import pytest

MACROS = Path(__file__).resolve().parents[2] / "dbt_project" / "macros" / "drift_stats.sql"


@pytest.fixture(scope="module")
def macros():
    return jinja2.Environment().from_string(MACROS.read_text()).module


def _evaluate(expression: str, xs: list[float]) -> list[float]:
    with duckdb.connect() as con:
        rows = con.execute(
            f"select x, {expression} from unnest(?::double[]) as t(x) order by x", [xs]
        ).fetchall()
    return [value for _, value in rows]


def test_erfc_relative_error_is_below_its_bound(macros):
    xs = [i / 100 for i in range(0, 801)]  # erfc(8) ~ 1e-29: the relative bound holds in the tail
    got = _evaluate(macros.erfc_nonnegative("x"), xs)
    worst = max(abs(g - math.erfc(x)) / math.erfc(x) for x, g in zip(sorted(xs), got, strict=True))
    assert worst < 1.2e-7


def test_two_sided_normal_p_value_matches_the_normal_tail(macros):
    zs = [i / 10 for i in range(-80, 81)]
    got = _evaluate(macros.normal_two_sided_p("x"), zs)
    for z, p in zip(sorted(zs), got, strict=True):
        exact = math.erfc(abs(z) / math.sqrt(2))
        assert abs(p - exact) <= 1.2e-7 * exact, (z, p, exact)
    # The figures a reader checks by hand: |z| = 1.96 -> 0.05, 2.5758 -> 0.01.
    assert _evaluate(macros.normal_two_sided_p("x"), [1.959964])[0] == pytest.approx(0.05, rel=1e-6)
    assert _evaluate(macros.normal_two_sided_p("x"), [-2.575829])[0] == pytest.approx(
        0.01, rel=1e-6
    )


def _kolmogorov_sf(lam: float) -> float:
    """Q(lambda) by the Jacobi theta form of the CDF, which converges fast for small lambda
    (a different series from the macro's), and the alternating series past lambda = 1."""
    if lam <= 0:
        return 1.0
    if lam < 1.0:
        cdf = (
            math.sqrt(2 * math.pi)
            / lam
            * sum(math.exp(-((2 * j - 1) ** 2) * math.pi**2 / (8 * lam**2)) for j in range(1, 50))
        )
        return 1.0 - cdf
    return 2 * sum((-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam) for j in range(1, 200))


def test_kolmogorov_survival_matches_the_distribution(macros):
    lams = [i / 100 for i in range(0, 401)]
    got = _evaluate(macros.kolmogorov_sf("x"), lams)
    for lam, q in zip(sorted(lams), got, strict=True):
        assert abs(q - _kolmogorov_sf(lam)) < 1e-12, (lam, q, _kolmogorov_sf(lam))
        assert 0.0 <= q <= 1.0
    # scipy.special.kolmogorov's values (scipy 1.17), and the familiar critical points.
    for lam, expected in [
        (0.5, 0.9639452436648751),
        (1.0, 0.26999967167735456),
        (1.3581, 0.0499996304316674),
        (1.6276, 0.010001537333060776),
        (2.5, 7.453306344157342e-06),
    ]:
        assert _evaluate(macros.kolmogorov_sf("x"), [lam])[0] == pytest.approx(expected, rel=1e-9)
