"""The statistics behind the figures' thresholds, on synthetic data (fast)."""
import math

import numpy as np
import pytest
from scipy import stats

from ntk_desktop.figures import settings_for
from ntk_desktop.figures.common import LEVEL, Check, network_seed
from ntk_desktop.figures.fig1 import mean_statistic, spread, spread_interval
from ntk_desktop.figures.fig2 import coverage_distribution


def test_spread_interval_is_the_f_quantile():
    lo, hi, flo, fhi = spread_interval(10, 4.0)
    assert flo == pytest.approx(math.sqrt(stats.f.ppf((1 - LEVEL) / 2, 9, 9)))
    assert fhi == pytest.approx(1 / flo)
    assert (lo, hi) == pytest.approx((4 * flo, 4 * fhi))


def test_spread_ratio_of_gaussian_samples_is_inside_its_interval_as_often_as_promised(rng):
    # two widths' fluctuations as Gaussian fields with std 1/sqrt(n): the ratio falls inside
    lo, hi, _, _ = spread_interval(10, math.sqrt(16))
    inside = 0
    for _ in range(2000):
        a = rng.standard_normal((10, 5)) / math.sqrt(64)
        b = rng.standard_normal((10, 5)) / math.sqrt(1024)
        inside += lo <= spread(a) / spread(b) <= hi
    assert inside / 2000 > LEVEL - 0.005


def test_mean_statistic_is_student_t_for_one_mode(rng):
    mode = np.linspace(1, 2, 7)
    stat = [mean_statistic(1.0 + rng.standard_normal((10, 1)) * mode, np.ones(7)) for _ in range(4000)]
    # one mode: |t_9|
    assert np.quantile(stat, 0.9) == pytest.approx(stats.t.ppf(0.95, 9), rel=0.08)


def test_coverage_distribution_of_the_limit_is_centred_on_80_percent():
    g = np.linspace(-3, 3, 60)
    cov = np.exp(-np.subtract.outer(g, g) ** 2)
    mean = np.sin(g)
    sd = np.sqrt(np.diag(cov))
    lo, hi = mean - 1.2815515655446004 * sd, mean + 1.2815515655446004 * sd
    per, avg, diff = coverage_distribution(mean, cov + 1e-12 * np.eye(60), lo, hi, 10, seed=1, draws=4000,
                                           sets=4000)
    assert per.mean() == pytest.approx(0.8, abs=0.01)
    assert avg.std() == pytest.approx(per.std() / math.sqrt(10), rel=0.1)
    assert abs(np.median(diff)) < 0.01


def test_check_comparisons():
    assert Check("a", "", 1.0, "in", (0.5, 1.0), "").passed
    assert not Check("a", "", 1.01, "in", (0.5, 1.0), "").passed
    assert Check("a", "", 0.9, "<", 1.0, "").passed and not Check("a", "", 1.0, "<", 1.0, "").passed
    assert not Check("a", "", float("nan"), "<=", 1.0, "").passed
    assert "FAIL" in Check("a", "d", 2.0, ">=", 3.0, "").summary()


def test_seeds_are_distinct_and_reproducible():
    seeds = {network_seed(0, f, i, k) for f in (1, 2, 3) for i in range(3) for k in range(10)}
    assert len(seeds) == 90 and all(0 <= s < 2 ** 31 for s in seeds)
    assert network_seed(5, 1, 0, 3) == network_seed(5, 1, 0, 3)


def test_settings():
    assert settings_for("fig1").widths == (500, 10000)
    assert settings_for("fig1", True).widths == (64, 1024)
    assert settings_for("fig2").steps == 1000 and settings_for("fig2", True).steps is None
    assert settings_for("fig3").widths == (100, 1000, 10000) and settings_for("fig3", True).widths == (50, 200, 800)
    assert settings_for("fig3", True, widths=(10, 20), trials=None).widths == (10, 20)
