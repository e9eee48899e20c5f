"""The ranking-quality definitions (checks/mirrors/ranking.py, the mirror the SQL marts will be
held to) against established implementations: ir-measures over trec_eval for NDCG, AP,
reciprocal rank, precision and recall, and scikit-learn for AUC and log loss. Pure: random
requests, nothing built."""

from __future__ import annotations

import math

import ir_measures
import numpy as np
import pandas as pd
import pytest
from ir_measures import AP, RR, P, Qrel, R, ScoredDoc, nDCG
from sklearn.metrics import log_loss as sklearn_log_loss
from sklearn.metrics import roc_auc_score

from metricbook.checks.mirrors import ranking

CUTOFFS = (1, 3, 10)


def _requests(seed: int, n: int = 300) -> pd.DataFrame:
    """Requests of 1-15 served pins; relevance 2 (saved), 1 (clicked) or 0, some all-zero."""
    rng = np.random.default_rng(seed)
    rows = []
    for request in range(n):
        length = int(rng.integers(1, 16))
        quality = rng.uniform(0, 0.4)
        for position in range(1, length + 1):
            relevance = rng.choice([0, 1, 2], p=[1 - quality, quality * 0.7, quality * 0.3])
            rows.append((f"r{request:04d}", f"p{position}", position, int(relevance)))
    return pd.DataFrame(rows, columns=["request_id", "pin_id", "feed_position", "relevance"])


def _trec(served: pd.DataFrame, k: int | None = None):
    """qrels with the gains 2^rel − 1 (trec_eval's NDCG gain is the label itself), and a run
    that keeps the served order (score = −position; trec_eval ranks by score)."""
    qrels = [Qrel(r.request_id, r.pin_id, int(2**r.relevance - 1)) for r in served.itertuples()]
    kept = served if k is None else served[served["feed_position"] <= k]
    run = [ScoredDoc(r.request_id, r.pin_id, -float(r.feed_position)) for r in kept.itertuples()]
    return qrels, run


def _by_request(measure, qrels, run) -> dict[str, float]:
    return {m.query_id: m.value for m in ir_measures.iter_calc([measure], qrels, run)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_request_metrics_agree_with_trec_eval(seed: int) -> None:
    served = _requests(seed)
    ours = ranking.request_ranking(served, CUTOFFS).set_index(["request_id", "k"])
    relevant = served.groupby("request_id")["relevance"].apply(lambda r: int((r > 0).sum()))
    with_relevant = relevant[relevant > 0].index
    assert 0 < len(with_relevant) < len(relevant), "the data must hold empty requests too"
    qrels, run = _trec(served)
    for k in CUTOFFS:
        trec = {
            "ndcg": _by_request(nDCG @ k, qrels, run),
            "precision": _by_request(P @ k, qrels, run),
            "recall": _by_request(R @ k, qrels, run),
            "ap_over_all_relevant": _by_request(AP @ k, qrels, run),
            # trec_eval's reciprocal rank has no cutoff: give it the top k only
            "reciprocal_rank": _by_request(RR, *_trec(served, k)),
        }
        for request in with_relevant:
            row = ours.loc[(request, k)]
            assert row["ndcg"] == pytest.approx(trec["ndcg"][request], abs=1e-12)
            assert row["precision"] == pytest.approx(trec["precision"][request], abs=1e-12)
            assert row["recall"] == pytest.approx(trec["recall"][request], abs=1e-12)
            assert row["reciprocal_rank"] == pytest.approx(
                trec["reciprocal_rank"].get(request, 0.0), abs=1e-12
            )
            # trec_eval divides AP@k by all relevant items; the definition by min(k, relevant)
            total = relevant[request]
            rescaled = trec["ap_over_all_relevant"][request] * total / min(k, total)
            assert row["average_precision"] == pytest.approx(rescaled, abs=1e-12)
        empty = ours.loc[[(r, k) for r in relevant.index.difference(with_relevant)]]
        assert empty["ndcg"].isna().all() and empty["recall"].isna().all()
        assert empty["average_precision"].isna().all() and empty["reciprocal_rank"].isna().all()
        assert (empty["precision"] == 0).all()


def test_precision_at_k_of_a_short_request_divides_by_k() -> None:
    metrics = ranking.request_metrics([1, 0], k=10)
    assert metrics["precision"] == pytest.approx(0.1)
    assert metrics["recall"] == 1.0 and metrics["reciprocal_rank"] == 1.0
    assert metrics["average_precision"] == 1.0  # one relevant item, at rank 1


def test_hand_example_ndcg_and_average_precision() -> None:
    # served relevances 0, 2, 1: DCG@3 = 3 / log2(3) + 1 / log2(4); IDCG@3 = 3 + 1 / log2(3)
    metrics = ranking.request_metrics([0, 2, 1], k=3)
    assert metrics["ndcg"] == pytest.approx((3 / math.log2(3) + 0.5) / (3 + 1 / math.log2(3)))
    assert metrics["average_precision"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert metrics["reciprocal_rank"] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", [4, 5])
def test_auc_and_log_loss_agree_with_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = np.round(rng.beta(2, 8, 5000), 2)  # rounded: many ties
    scores[:5] = [0.0, 1.0, 1e-18, 1 - 1e-18, 0.5]  # the clip matters at the edges
    clicked = rng.random(5000) < scores
    assert ranking.auc(scores, clicked) == pytest.approx(roc_auc_score(clicked, scores), abs=1e-12)
    clipped = np.clip(scores, 1e-15, 1 - 1e-15)
    assert ranking.log_loss(scores, clicked) == pytest.approx(
        sklearn_log_loss(clicked, clipped), rel=1e-12
    )


def test_calibration_bins_edges_and_ece() -> None:
    scores = [0.0, 0.05, 0.3, 0.3, 0.95, 1.0]
    clicked = [False, False, True, False, True, True]
    bins = ranking.calibration_bins(scores, clicked).set_index("bin")
    assert list(bins.index) == [0, 3, 9]  # 0.3 is in bin 3, 1.0 in bin 9
    assert bins.loc[3, "impressions"] == 2 and bins.loc[9, "click_rate"] == 1.0
    # bin 0: 0.0 and 0.05 (mean 0.025, none clicked); bin 3: 0.3 twice (half clicked); bin 9:
    # 0.95 and 1.0 (mean 0.975, both clicked)
    expected = (2 / 6) * 0.025 + (2 / 6) * 0.2 + (2 / 6) * 0.025
    assert ranking.expected_calibration_error(scores, clicked) == pytest.approx(expected)
