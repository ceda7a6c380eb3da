"""patchkit.stats against distributions whose medians are known, with fixed seeds."""

import math
import random

import pytest

from patchkit import stats


def test_median_odd_even_and_unsorted():
    assert stats.median([3, 1, 2]) == 2
    assert stats.median([4, 1, 3, 2]) == 2.5
    assert stats.median([7]) == 7


def test_median_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        stats.median([])


def test_percentile_interpolates_between_ranks():
    v = [10, 20, 30, 40, 50]
    assert stats.percentile(v, 0) == 10
    assert stats.percentile(v, 100) == 50
    assert stats.percentile(v, 50) == 30
    assert stats.percentile(v, 25) == 20
    assert stats.percentile(v, 10) == pytest.approx(14.0)
    with pytest.raises(ValueError):
        stats.percentile(v, 101)


def test_bootstrap_is_reproducible_with_a_seed():
    data = [random.Random(1).gauss(0, 1) for _ in range(20)]
    a = stats.bootstrap_median(data, rng=random.Random(5), resamples=500)
    b = stats.bootstrap_median(data, rng=random.Random(5), resamples=500)
    assert a == b


def test_bootstrap_interval_brackets_the_sample_median():
    rng = random.Random(3)
    data = [rng.expovariate(1.0) for _ in range(31)]
    ci = stats.bootstrap_median(data, rng=random.Random(4), resamples=1000)
    assert ci.estimate == stats.median(data)
    assert ci.low <= ci.estimate <= ci.high
    assert ci.low < ci.high


def test_bootstrap_median_covers_the_true_median_about_95_percent_of_the_time():
    # Normal(10, 2): true median 10.  200 experiments of 25 draws each.
    rng = random.Random(20260614)
    hits = 0
    trials = 200
    for _ in range(trials):
        data = [rng.gauss(10.0, 2.0) for _ in range(25)]
        if stats.bootstrap_median(data, rng=rng, resamples=400).contains(10.0):
            hits += 1
    assert 0.88 <= hits / trials <= 0.99


def test_interval_narrows_with_more_data():
    rng = random.Random(8)
    small = [rng.gauss(0, 1) for _ in range(10)]
    large = [rng.gauss(0, 1) for _ in range(400)]
    a = stats.bootstrap_median(small, rng=random.Random(1), resamples=500)
    b = stats.bootstrap_median(large, rng=random.Random(1), resamples=500)
    assert (b.high - b.low) < (a.high - a.low) / 3


def test_ratio_of_same_distribution_is_no_significant_difference():
    rng = random.Random(11)
    a = [rng.lognormvariate(0, 0.1) for _ in range(15)]
    b = [rng.lognormvariate(0, 0.1) for _ in range(15)]
    r = stats.bootstrap_ratio(a, b, rng=random.Random(2), resamples=1000)
    assert r.contains(1.0)
    assert stats.significance(r) == stats.NO_DIFFERENCE
    assert stats.direction(r, higher_is_better=True) == ""


def test_ratio_of_doubled_distribution_is_significant_and_covers_two():
    # Exponential with scale 2 vs scale 1: the ratio of medians is exactly 2.
    rng = random.Random(12)
    slow = [rng.expovariate(0.5) for _ in range(60)]
    fast = [rng.expovariate(1.0) for _ in range(60)]
    r = stats.bootstrap_ratio(slow, fast, rng=random.Random(3), resamples=2000)
    assert r.low > 1.0
    assert r.contains(2.0)
    assert stats.significance(r) == ""
    assert stats.direction(r, higher_is_better=False) == "worse"  # e.g. a latency
    assert stats.direction(r, higher_is_better=True) == "better"  # e.g. a throughput


def test_ratio_against_a_zero_median_is_none():
    assert stats.bootstrap_ratio([1, 2, 3], [0, 0, 0]) is None
    assert stats.significance(None) == "n/a"


def test_ratio_estimate_is_the_ratio_of_medians():
    r = stats.bootstrap_ratio([2, 4, 6], [1, 2, 3], rng=random.Random(0), resamples=200)
    assert r.estimate == pytest.approx(2.0)
    # every resample of [2,4,6] over a resample of [1,2,3] lies within 2/3 .. 6
    assert 2 / 3 <= r.low <= r.high <= 6


def test_relative_spread():
    assert stats.relative_spread([9, 10, 11]) == pytest.approx(0.2)
    assert math.isinf(stats.relative_spread([0, 0, 0]))
