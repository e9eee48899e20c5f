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


# --------------------------------------------------------------------------------------------
# the marts, from the staged tables (stg_events, stg_ranker_scores)

LOGGED = "logged"  # the pseudo-model: the served order
CUTOFFS = (3, 10)  # var ranking_cutoffs as shipped
# fct_ranker_offline_eval's means: column -> the request metric averaged over evaluated requests
MEANS = {
    "mean_ndcg": "ndcg",
    "map": "average_precision",
    "mrr": "reciprocal_rank",
    "mean_recall": "recall",
    "mean_precision": "precision",
}


def request_items(events: pd.DataFrame) -> pd.DataFrame:
    """int_request_items: one row per impression with a request, graded by what the same user did
    with the same pin in the same request: relevance 2 saved, else 1 clicked, else 0 (a hide is 0,
    flagged in is_hidden)."""
    served = events[events["request_id"].notna()]
    impressions = served[served["event_type"] == "impression"]
    keys = ["request_id", "pin_id", "user_id"]
    items = impressions[[*keys, "surface", "feed_position", "event_at", "event_date"]].rename(
        columns={"event_at": "impression_at", "event_date": "impression_date"}
    )
    for flag, event_type in (("is_clicked", "click"), ("is_saved", "save"), ("is_hidden", "hide")):
        done = served.loc[served["event_type"] == event_type, keys].drop_duplicates()
        items = items.merge(done.assign(**{flag: True}), on=keys, how="left")
        items[flag] = items[flag].fillna(False).astype(bool)
    items["relevance"] = np.where(items["is_saved"], 2, np.where(items["is_clicked"], 1, 0))
    return items.reset_index(drop=True)


def ranked_request_items(items: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """int_ranked_request_items: 'logged' ranks by feed position; each model by score descending,
    ties by pin_id, only on the requests where it scored every served pin (scores of pins the
    request did not serve are dropped by the join)."""
    columns = ["model_id", "request_id", "pin_id", "item_rank", "relevance", "is_clicked", "score"]
    logged = items.sort_values(["request_id", "feed_position"]).assign(
        model_id=LOGGED, score=np.nan
    )
    logged["item_rank"] = logged.groupby("request_id").cumcount() + 1
    served = items.groupby("request_id").size().rename("served_items").reset_index()
    scored = items[["request_id", "pin_id", "relevance", "is_clicked"]].merge(
        scores[["model_id", "request_id", "pin_id", "score"]], on=["request_id", "pin_id"]
    )
    scored["score"] = scored["score"].astype(float)
    counts = scored.groupby(["model_id", "request_id"]).size().rename("scored").reset_index()
    complete = counts.merge(served, on="request_id")
    complete = complete[complete["scored"] == complete["served_items"]]
    scored = scored.merge(complete[["model_id", "request_id"]], on=["model_id", "request_id"])
    scored = scored.sort_values(
        ["model_id", "request_id", "score", "pin_id"], ascending=[True, True, False, True]
    )
    scored["item_rank"] = scored.groupby(["model_id", "request_id"]).cumcount() + 1
    return pd.concat([logged[columns], scored[columns]], ignore_index=True)


def request_ranking_metrics(ranked: pd.DataFrame, cutoffs: Sequence[int] = CUTOFFS) -> pd.DataFrame:
    """int_request_ranking_metrics: request_metrics per (model_id, request_id, k), in each
    model's order, with the request's served and relevant item counts."""
    frames = []
    for model_id, items in ranked.groupby("model_id", sort=True):
        served = items.rename(columns={"item_rank": "feed_position"})
        metrics = request_ranking(served, cutoffs)
        sizes = served.groupby("request_id").agg(
            served_items=("relevance", "size"),
            relevant_items=("relevance", lambda r: int((r > 0).sum())),
        )
        frames.append(metrics.merge(sizes, on="request_id").assign(model_id=model_id))
    if not frames:
        return pd.DataFrame(columns=["model_id", "request_id", "k", "served_items"])
    return pd.concat(frames, ignore_index=True)


def request_ranking_mart(events: pd.DataFrame, cutoffs: Sequence[int] = CUTOFFS) -> pd.DataFrame:
    """fct_request_ranking: the served order's metrics per (request_id, k), with the request's
    user, surface and request_date (UTC date of its first impression)."""
    items = request_items(events)
    no_scores = pd.DataFrame(columns=["model_id", "request_id", "pin_id", "score"])
    ranked = ranked_request_items(items, no_scores)
    metrics = request_ranking_metrics(ranked, cutoffs).drop(columns="model_id")
    requests = items.groupby(["request_id", "user_id", "surface"], as_index=False).agg(
        request_date=("impression_date", "min")
    )
    return metrics.merge(requests, on="request_id")


def ranker_calibration(events: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """fct_ranker_calibration: calibration_bins per candidate model over its scored impressions."""
    ranked = ranked_request_items(request_items(events), scores)
    frames = [
        calibration_bins(group["score"], group["is_clicked"].astype(bool)).assign(model_id=model_id)
        for model_id, group in ranked[ranked["model_id"] != LOGGED].groupby("model_id", sort=True)
    ]
    columns = ["model_id", "bin", "impressions", "mean_score", "click_rate"]
    return (
        pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    )


def ranker_offline_eval(
    events: pd.DataFrame, scores: pd.DataFrame, cutoffs: Sequence[int] = CUTOFFS
) -> pd.DataFrame:
    """fct_ranker_offline_eval: per (model_id, k), the means of the request metrics over the
    scored requests with a relevant item, the request counts, and AUC, log loss and ECE over the
    scored impressions (NULL for logged)."""
    items = request_items(events)
    ranked = ranked_request_items(items, scores)
    metrics = request_ranking_metrics(ranked, cutoffs)
    requests = items["request_id"].nunique()
    rows = []
    for model_id in [*sorted(scores["model_id"].unique()), LOGGED]:
        impressions = ranked[ranked["model_id"] == model_id]
        scored = model_id != LOGGED and len(impressions) > 0
        clicked = impressions["is_clicked"].astype(bool)
        score_metrics = {
            "auc": auc(impressions["score"], clicked) if scored else None,
            "log_loss": log_loss(impressions["score"], clicked) if scored else None,
            "ece": expected_calibration_error(impressions["score"], clicked) if scored else None,
        }
        for k in cutoffs:
            at_k = metrics[(metrics["model_id"] == model_id) & (metrics["k"] == k)]
            evaluated = at_k[at_k["relevant_items"] > 0]
            means = {
                column: float(evaluated[metric].astype(float).mean()) if len(evaluated) else None
                for column, metric in MEANS.items()
            }
            rows.append(
                {
                    "model_id": model_id,
                    "k": k,
                    "requests_evaluated": len(evaluated),
                    "requests_without_relevant": len(at_k) - len(evaluated),
                    "requests_unscored": requests - len(at_k),
                    **means,
                    "impressions": len(impressions),
                    **score_metrics,
                }
            )
    return pd.DataFrame(rows)
