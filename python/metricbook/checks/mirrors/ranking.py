"""pandas mirrors of the ranking-quality definitions (issue 12's fct_request_ranking and
fct_ranker_offline_eval), written from the definitions alone so the SQL marts have an
independent second implementation. Cross-checked against ir-measures (trec_eval) and
scikit-learn in python/tests/test_ranking_mirror.py.

Per request, with the served order i = 1, 2, ... (feed position ascending) and relevance rel_i
(2 saved, 1 clicked, 0 otherwise):
- DCG@k = Σ_{i ≤ k} (2^rel_i − 1) / log2(i + 1); IDCG@k the same over the relevances sorted
  descending; ndcg = DCG / IDCG, NULL when IDCG = 0 (nothing relevant: no defined NDCG).
- precision = relevant (rel > 0) in the top k / k (k even when the request is shorter);
  recall = relevant in the top k / relevant in the request (NULL when none);
  average_precision = Σ_{i ≤ k, rel_i > 0} precision@i / min(k, relevant in the request) (NULL
  when none); reciprocal_rank = 1 / rank of the first relevant item within the top k (0 when
  none there, NULL when the request has none).
Per model over impressions with a score and a clicked label: AUC (the probability a clicked
impression outscores an unclicked one, ties counting half), log loss (natural log, scores
clipped to [1e-15, 1 − 1e-15]) and the expected calibration error over 10 equal-width bins,
bin = least(floor(score × 10), 9): Σ_b (n_b / N)·|mean score_b − click rate_b|.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

CLIP = 1e-15
BINS = 10


def _discounted(gains: np.ndarray) -> float:
    ranks = np.arange(1, len(gains) + 1)
    return float(np.sum(gains / np.log2(ranks + 1)))


def request_metrics(relevance: Sequence[int], k: int) -> dict[str, float | None]:
    """The per-request metrics at cutoff k, `relevance` in served order."""
    rel = np.asarray(relevance, dtype=float)
    gains = 2.0**rel - 1
    relevant_total = int((rel > 0).sum())
    top = rel[:k]
    hits = top > 0
    ideal = np.sort(gains)[::-1][:k]
    idcg = _discounted(ideal)
    dcg = _discounted(gains[:k])
    if relevant_total == 0:
        recall = average_precision = reciprocal_rank = None
    else:
        recall = float(hits.sum()) / relevant_total
        precision_at = np.cumsum(hits) / np.arange(1, len(top) + 1)
        average_precision = float(precision_at[hits].sum()) / min(k, relevant_total)
        first = np.flatnonzero(hits)
        reciprocal_rank = 1.0 / (first[0] + 1) if len(first) else 0.0
    return {
        "dcg": dcg,
        "idcg": idcg,
        "ndcg": dcg / idcg if idcg > 0 else None,
        "precision": float(hits.sum()) / k,
        "recall": recall,
        "average_precision": average_precision,
        "reciprocal_rank": reciprocal_rank,
    }


def request_ranking(served: pd.DataFrame, cutoffs: Sequence[int] = (3, 10)) -> pd.DataFrame:
    """fct_request_ranking from one row per served (request_id, pin_id) with feed_position and
    relevance: one row per (request_id, k)."""
    ordered = served.sort_values(["request_id", "feed_position"])
    rows = [
        {"request_id": request_id, "k": k, **request_metrics(group["relevance"], k)}
        for request_id, group in ordered.groupby("request_id", sort=True)
        for k in cutoffs
    ]
    return pd.DataFrame(rows)


def auc(scores: Sequence[float], clicked: Sequence[bool]) -> float:
    """Mann–Whitney AUC with average ranks for ties; NaN without both classes."""
    frame = pd.DataFrame({"score": scores, "clicked": clicked})
    positives, negatives = int(frame["clicked"].sum()), int((~frame["clicked"]).sum())
    if not positives or not negatives:
        return math.nan
    ranks = frame["score"].rank(method="average")
    return float(
        (ranks[frame["clicked"]].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    )


def log_loss(scores: Sequence[float], clicked: Sequence[bool]) -> float:
    p = np.clip(np.asarray(scores, dtype=float), CLIP, 1 - CLIP)
    y = np.asarray(clicked, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def calibration_bins(scores: Sequence[float], clicked: Sequence[bool]) -> pd.DataFrame:
    """fct_ranker_calibration for one model: per bin (0..9) mean score, click rate, impressions."""
    frame = pd.DataFrame({"score": np.asarray(scores, float), "clicked": clicked})
    frame["bin"] = np.minimum(np.floor(frame["score"] * BINS), BINS - 1).astype(int)
    return (
        frame.groupby("bin", as_index=False)
        .agg(
            mean_score=("score", "mean"),
            click_rate=("clicked", "mean"),
            impressions=("score", "size"),
        )
        .sort_values("bin")
    )


def expected_calibration_error(scores: Sequence[float], clicked: Sequence[bool]) -> float:
    bins = calibration_bins(scores, clicked)
    weights = bins["impressions"] / bins["impressions"].sum()
    return float((weights * (bins["mean_score"] - bins["click_rate"]).abs()).sum())
