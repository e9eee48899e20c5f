"""Split a change in pooled CTR between two arms into a within-position rate effect and a
position-mix effect.

With w_a(p) the share of arm a's impressions at slot p (a surface and feed position) and
ctr_a(p) its click-through there, pooled CTR is Σ_p ctr_a(p)·w_a(p), and exactly

    Σ_p ctr_t(p)·w_t(p) − Σ_p ctr_c(p)·w_c(p)
        = Σ_p (ctr_t(p) − ctr_c(p))·w_c(p)      the rate effect: better or worse at each slot,
                                                weighed by where control's impressions were
        + Σ_p ctr_t(p)·(w_t(p) − w_c(p))        the mix effect: impressions moved between slots

(a Kitagawa–Oaxaca–Blinder split, with control's mix as the reference). The rate effect over
control's pooled CTR is the position-adjusted lift: what CTR would have done had the treatment
kept control's positions. A slot one arm never showed borrows the other arm's rate, so its
whole contribution is mix and the identity stays exact. Clicks at a slot with no impression in
either arm have no rate and are left out (counted in `unplaced_clicks`).

Descriptive: no standard error. The rate effect of a user-randomised test needs the user as the
unit for its variance (requests and slots are nested in users), which the position aggregates
do not carry; the readout's CTR row (delta method) is the inferential result.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

Slot = Hashable
Counts = Mapping[Slot, tuple[int, int]]  # slot -> (impressions, clicks)


@dataclass(frozen=True)
class CtrDecomposition:
    control_ctr: float
    treatment_ctr: float
    diff: float  # treatment_ctr − control_ctr == rate_effect + mix_effect
    rate_effect: float
    mix_effect: float
    position_adjusted_lift: float  # rate_effect / control_ctr
    raw_lift: float  # diff / control_ctr
    slots: int
    unplaced_clicks: int


def _checked(counts: Counts, arm: str) -> dict[Slot, tuple[int, int]]:
    checked = {}
    for slot, (impressions, clicks) in counts.items():
        if impressions < 0 or clicks < 0:
            raise ValueError(f"{arm} slot {slot!r}: negative count ({impressions}, {clicks})")
        checked[slot] = (int(impressions), int(clicks))
    if not sum(impressions for impressions, _ in checked.values()):
        raise ValueError(f"{arm} has no impressions at any slot")
    return checked


def ctr_decomposition(control: Counts, treatment: Counts) -> CtrDecomposition:
    """The exact rate / mix split of treatment − control pooled CTR (module docstring).

    ValueError when an arm has no impressions or a count is negative."""
    arms = {"control": _checked(control, "control"), "treatment": _checked(treatment, "treatment")}
    slots = sorted(
        {s for counts in arms.values() for s, (n, _) in counts.items() if n > 0}, key=repr
    )
    placed = set(slots)
    unplaced = sum(c for counts in arms.values() for s, (_, c) in counts.items() if s not in placed)
    totals = {a: sum(arms[a].get(s, (0, 0))[0] for s in slots) for a in arms}
    weight = {a: {s: arms[a].get(s, (0, 0))[0] / totals[a] for s in slots} for a in arms}
    own_rate = {
        a: {s: (c / n if n else math.nan) for s in slots for n, c in [arms[a].get(s, (0, 0))]}
        for a in arms
    }
    rate = {
        a: {s: own_rate[a][s] if not math.isnan(own_rate[a][s]) else own_rate[b][s] for s in slots}
        for a, b in (("control", "treatment"), ("treatment", "control"))
    }
    rate_effect = math.fsum(
        (rate["treatment"][s] - rate["control"][s]) * weight["control"][s] for s in slots
    )
    mix_effect = math.fsum(
        rate["treatment"][s] * (weight["treatment"][s] - weight["control"][s]) for s in slots
    )
    pooled = {a: math.fsum(rate[a][s] * weight[a][s] for s in slots) for a in arms}
    control_ctr = pooled["control"]
    return CtrDecomposition(
        control_ctr=control_ctr,
        treatment_ctr=pooled["treatment"],
        diff=pooled["treatment"] - control_ctr,
        rate_effect=rate_effect,
        mix_effect=mix_effect,
        position_adjusted_lift=rate_effect / control_ctr if control_ctr else math.nan,
        raw_lift=(pooled["treatment"] - control_ctr) / control_ctr if control_ctr else math.nan,
        slots=len(slots),
        unplaced_clicks=unplaced,
    )
