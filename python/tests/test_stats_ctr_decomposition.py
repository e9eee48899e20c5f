"""The CTR rate / mix decomposition: a hand-checked example, edge cases, and a simulated
treatment that only moves impressions down the feed (the exact identity on any counts is a
property in test_stats_properties.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metricbook.stats import ctr_decomposition


def test_hand_example_splits_rate_and_mix() -> None:
    # control: 100 impressions at slot 1 (CTR 0.2) and 100 at slot 2 (0.1): pooled 0.15.
    # treatment: 50 at slot 1 (CTR 0.3), 150 at slot 2 (0.1): pooled (15 + 15) / 200 = 0.15.
    result = ctr_decomposition({1: (100, 20), 2: (100, 10)}, {1: (50, 15), 2: (150, 15)})
    assert result.control_ctr == pytest.approx(0.15)
    assert result.treatment_ctr == pytest.approx(0.15)
    assert result.diff == pytest.approx(0.0, abs=1e-15)
    # rate: (0.3 - 0.2) * 0.5 + (0.1 - 0.1) * 0.5 = 0.05; mix: 0.3 * (0.25 - 0.5) + 0.1 * 0.25
    assert result.rate_effect == pytest.approx(0.05)
    assert result.mix_effect == pytest.approx(-0.05)
    assert result.position_adjusted_lift == pytest.approx(0.05 / 0.15)
    assert result.raw_lift == pytest.approx(0.0, abs=1e-12)
    assert (result.slots, result.unplaced_clicks) == (2, 0)


def test_a_slot_one_arm_never_showed_is_all_mix() -> None:
    result = ctr_decomposition({1: (10, 5)}, {1: (10, 5), 2: (10, 1)})
    assert result.rate_effect == pytest.approx(0.0)
    assert result.mix_effect == pytest.approx(result.diff)
    assert result.treatment_ctr == pytest.approx(6 / 20)


def test_clicks_at_a_slot_without_impressions_are_counted_apart() -> None:
    result = ctr_decomposition({1: (10, 2), 9: (0, 3)}, {1: (10, 4)})
    assert result.control_ctr == pytest.approx(0.2) and result.unplaced_clicks == 3


@pytest.mark.parametrize(
    ("control", "treatment", "message"),
    [({1: (0, 0)}, {1: (5, 1)}, "control has no impressions"),
     ({1: (5, 1)}, {}, "treatment has no impressions"),
     ({1: (5, -1)}, {1: (5, 1)}, "negative count")],
)  # fmt: skip
def test_an_arm_without_impressions_or_a_negative_count_is_refused(
    control, treatment, message
) -> None:
    with pytest.raises(ValueError, match=message):
        ctr_decomposition(control, treatment)


def test_a_treatment_that_only_moves_impressions_down_has_no_rate_effect() -> None:
    """Same CTR curve in both arms; treatment serves deeper feeds. Raw CTR falls by about 16%
    (the mix); the rate effect stays within 4 binomial standard errors of 0 (independent
    impressions here, so Σ w_c(p)² (r_t(p)(1 − r_t(p))/n_t(p) + r_c(p)(1 − r_c(p))/n_c(p)) is
    its variance)."""
    rng = np.random.default_rng(7)
    curve = 0.25 / (1 + 0.35 * np.arange(10))  # CTR by position 1..10
    mixes = {"control": np.full(10, 0.1), "treatment": np.linspace(0.04, 0.16, 10)}
    arms = {}
    for arm, mix in mixes.items():
        impressions = rng.multinomial(400_000, mix / mix.sum())
        clicks = rng.binomial(impressions, curve)
        arms[arm] = {
            p + 1: (int(n), int(c))
            for p, (n, c) in enumerate(zip(impressions, clicks, strict=True))
        }
    result = ctr_decomposition(arms["control"], arms["treatment"])
    variance = 0.0
    for slot, (n_c, c_c) in arms["control"].items():
        n_t, c_t = arms["treatment"][slot]
        r_c, r_t, w_c = c_c / n_c, c_t / n_t, n_c / 400_000
        variance += w_c**2 * (r_t * (1 - r_t) / n_t + r_c * (1 - r_c) / n_c)
    assert result.raw_lift < -0.12
    assert abs(result.rate_effect) < 4 * math.sqrt(variance)
    assert result.mix_effect == pytest.approx(result.diff, rel=0.1)
    assert math.isclose(result.rate_effect + result.mix_effect, result.diff, abs_tol=1e-12)
