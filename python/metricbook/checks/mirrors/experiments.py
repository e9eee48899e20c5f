"""pandas mirrors of the experiment marts (models/marts/experiments/_experiments__models.yml)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metricbook.checks.mirrors import ranking

KEY = ["experiment_id", "user_id"]
# fct_experiment_user_metrics' pre-assignment attributes (never zero-filled: NULL when unknown)
SEGMENT_COLUMNS = ("platform", "country", "user_tenure", "days_since_signup")
# fct_experiment_user_daily_metrics' daily values: the user mart's columns of the same names
DAILY_COLUMNS = ["impressions", "clicks", "saves", "hides", "active_days", "revenue_usd"]
# |sum(traffic_share) - 1| above this excludes the experiment (int_experiment_checks)
TRAFFIC_SHARE_TOLERANCE = 0.001
CHECK_COLUMNS = [
    "experiment_id",
    "start_at",
    "end_at",
    "variants",
    "controls",
    "total_traffic_share",
    "is_analyzable",
    "exclusion_reason",
]


def _variant_check(variants: int, controls: int, total_traffic_share: float) -> str | None:
    """The first failing check on an experiment's staged variants, or None."""
    if variants == 0:
        return "no_variants"
    if variants == 1:
        return "single_variant"
    if controls == 0:
        return "no_control"
    if controls > 1:
        return "several_controls"
    if abs(total_traffic_share - 1) > TRAFFIC_SHARE_TOLERANCE:
        return "traffic_shares_do_not_sum_to_one"
    return None


def checks(
    experiments: pd.DataFrame, experiment_rejects: pd.DataFrame, variants: pd.DataFrame
) -> pd.DataFrame:
    """int_experiment_checks (and dim_experiments) from stg_experiments,
    stg_experiments__rejects and stg_experiment_variants: one row per declared experiment."""
    staged_ids = set(experiments["experiment_id"])
    rejected = experiment_rejects.dropna(subset=["experiment_id"])
    rejected = rejected[~rejected["experiment_id"].isin(staged_ids)]
    # the reason of the experiment's first delivery in the dedupe order
    rejected = (
        rejected.sort_values("delivery_rank")
        .drop_duplicates("experiment_id")[["experiment_id", "reject_reason"]]
        .assign(start_at=pd.NaT, end_at=pd.NaT)
    )
    declared = pd.concat(
        [experiments[["experiment_id", "start_at", "end_at"]].assign(reject_reason=None), rejected],
        ignore_index=True,
    )
    per_experiment = {
        experiment_id: (
            len(arms),
            int(arms["is_control"].astype(bool).sum()),
            float(sum(float(share) for share in arms["traffic_share"])),
        )
        for experiment_id, arms in variants.groupby("experiment_id")
    }
    rows = []
    for row in declared.itertuples(index=False):
        n_variants, n_controls, total = per_experiment.get(row.experiment_id, (0, 0, 0.0))
        reason = row.reject_reason or _variant_check(n_variants, n_controls, total)
        rows.append(
            {
                "experiment_id": row.experiment_id,
                "start_at": row.start_at,
                "end_at": row.end_at,
                "variants": n_variants,
                "controls": n_controls,
                "total_traffic_share": total,
                "is_analyzable": reason is None,
                "exclusion_reason": reason,
            }
        )
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def user_assignments(assignments: pd.DataFrame, checks_frame: pd.DataFrame) -> pd.DataFrame:
    """int_experiment_user_assignments from stg_experiment_assignments and the analyzable
    experiments of int_experiment_checks (`checks`)."""
    analyzable = checks_frame[checks_frame["is_analyzable"].astype(bool)]
    rows = assignments.merge(
        analyzable[["experiment_id", "start_at", "end_at"]], on="experiment_id"
    )
    timing = np.select(
        [rows["assigned_at"] < rows["start_at"], rows["assigned_at"] > rows["end_at"]],
        ["before_start", "after_end"],
        default="in_window",
    )
    rows = rows.assign(timing=timing)
    in_window = rows[rows["timing"] == "in_window"]
    window = in_window.groupby(KEY).agg(
        variants_in_window=("variant", "nunique"),
        assignments_in_window=("variant", "size"),
        first_variant=("variant", "min"),
        first_assigned_at=("assigned_at", "min"),
    )
    outside = pd.crosstab([rows["experiment_id"], rows["user_id"]], rows["timing"]).reindex(
        columns=["before_start", "after_end"], fill_value=0
    )
    result = outside.join(window, how="left").reset_index()
    result.columns.name = None
    result[["variants_in_window", "assignments_in_window"]] = (
        result[["variants_in_window", "assignments_in_window"]].fillna(0).astype(int)
    )
    result["variant"] = result["first_variant"].where(result["variants_in_window"] == 1)
    result["assignment_status"] = np.select(
        [
            result["variants_in_window"] == 1,
            result["variants_in_window"] > 1,
            result["after_end"] > 0,
        ],
        ["assigned", "multiple_variants", "assigned_after_end"],
        default="assigned_before_start",
    )
    return result.rename(
        columns={
            "before_start": "assignments_before_start",
            "after_end": "assignments_after_end",
        }
    )[
        [
            *KEY,
            "variant",
            "first_assigned_at",
            "variants_in_window",
            "assignments_in_window",
            "assignments_before_start",
            "assignments_after_end",
            "assignment_status",
        ]
    ]


def assignments(user_assignments_frame: pd.DataFrame) -> pd.DataFrame:
    """fct_experiment_assignments: the users with exactly one variant in the window."""
    assigned = user_assignments_frame[user_assignments_frame["assignment_status"] == "assigned"]
    return assigned[[*KEY, "variant", "first_assigned_at"]]


def _counts(events: pd.DataFrame, prefix: str = "") -> pd.DataFrame:
    by_type = pd.crosstab([events["experiment_id"], events["user_id"]], events["event_type"])
    by_type = by_type.reindex(columns=["impression", "click", "save", "hide"], fill_value=0)
    by_type.columns = [f"{prefix}{name}s" for name in ["impression", "click", "save", "hide"]]
    active = events.groupby(KEY)["event_date"].nunique().rename(f"{prefix}active_days")
    return by_type.join(active)


def user_segments(
    assignments_frame: pd.DataFrame, users: pd.DataFrame, new_user_days: int = 7
) -> pd.DataFrame:
    """The pre-assignment segments of fct_experiment_user_metrics, per (experiment, user):
    platform and country at signup, user_tenure ('new' when signup_at > first_assigned_at -
    new_user_days days, 'tenured' otherwise, 'unknown' without a staged users row) and
    days_since_signup (floor of the days from signup to first assignment)."""
    segments = assignments_frame[[*KEY, "first_assigned_at"]].merge(
        users[["user_id", "platform", "country", "signup_at"]], on="user_id", how="left"
    )
    age = segments["first_assigned_at"] - segments["signup_at"]
    # floor division of whole microseconds, as the SQL: -1 s is day -1
    age_us = age.dt.total_seconds().mul(1e6).round()
    segments["days_since_signup"] = np.floor(age_us / 86_400_000_000).astype("Int64")
    cutoff = segments["first_assigned_at"] - pd.Timedelta(days=new_user_days)
    segments["user_tenure"] = np.select(
        [segments["signup_at"].isna(), segments["signup_at"] > cutoff],
        ["unknown", "new"],
        default="tenured",
    )
    return segments.set_index(KEY)[["platform", "country", "user_tenure", "days_since_signup"]]


def user_metrics(
    assignments_frame: pd.DataFrame,
    experiments: pd.DataFrame,
    variants: pd.DataFrame,
    events: pd.DataFrame,
    transactions: pd.DataFrame,
    pins: pd.DataFrame,
    creator_ranks: pd.DataFrame,
    users: pd.DataFrame,
    pre_period_days: int = 14,
    new_user_days: int = 7,
) -> pd.DataFrame:
    """fct_experiment_user_metrics: every assigned user, zero-filled, post and pre periods,
    with the pre-assignment segments (`user_segments`)."""
    signups = users
    users = assignments_frame.merge(experiments, on="experiment_id").merge(
        variants[["experiment_id", "variant", "is_control"]], on=["experiment_id", "variant"]
    )
    users["pre_period_start_at"] = users["start_at"] - pd.Timedelta(days=pre_period_days)
    user_events = users.merge(events, on="user_id")
    post = user_events[
        (user_events["event_at"] >= user_events["first_assigned_at"])
        & (user_events["event_at"] <= user_events["end_at"])
    ]
    pre = user_events[
        (user_events["event_at"] >= user_events["pre_period_start_at"])
        & (user_events["event_at"] < user_events["start_at"])
    ]
    paid = users.merge(transactions[transactions["status"] == "completed"], on="user_id")
    paid = paid[
        (paid["transacted_at"] >= paid["first_assigned_at"])
        & (paid["transacted_at"] <= paid["end_at"])
    ]
    revenue = paid.groupby(KEY)["amount_usd"].sum().astype(float).rename("revenue_usd")
    shown = (
        post[post["event_type"] == "impression"]
        .merge(pins[["pin_id", "category", "creator_id"]], on="pin_id")
        .merge(creator_ranks[["creator_id", "is_top_creator"]], on="creator_id")
    )
    diversity = shown.groupby(KEY).agg(
        distinct_categories=("category", "nunique"),
        distinct_creators=("creator_id", "nunique"),
        top_creator_impressions=("is_top_creator", "sum"),
    )
    served = _ranking_diagnostics(users, events)

    result = (
        users.set_index(KEY)[["variant", "is_control", "first_assigned_at"]]
        .join(user_segments(assignments_frame, signups, new_user_days))
        .join(_counts(post))
        .join(revenue)
        .join(diversity)
        .join(served)
        .join(_counts(pre, prefix="pre_").drop(columns=["pre_hides"]))
    )
    attributes = ("variant", "is_control", "first_assigned_at", *SEGMENT_COLUMNS)
    counts = [c for c in result.columns if c not in attributes]
    result[counts] = result[counts].fillna(0)
    result["has_saved"] = (result["saves"] > 0).astype(int)
    return result.reset_index()


def _in_post_period(frame: pd.DataFrame, at: str) -> pd.DataFrame:
    return frame[(frame[at] >= frame["first_assigned_at"]) & (frame[at] <= frame["end_at"])]


def _ranking_diagnostics(users: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Per assigned user, from the served items of the post period: the clicked positions, the
    impressions in the top 3, and NDCG@10 (served order) over the requests that have one (a
    request is in the period of its first impression)."""
    items = ranking.request_items(events)
    shown = _in_post_period(users.merge(items, on="user_id"), "impression_at")
    clicked = shown[shown["is_clicked"]]
    placed = pd.DataFrame(
        {
            "clicked_position_sum": clicked.groupby(KEY)["feed_position"].sum(),
            "clicked_impressions": clicked.groupby(KEY).size(),
            "top3_impressions": shown[shown["feed_position"] <= 3].groupby(KEY).size(),
        }
    )
    no_scores = pd.DataFrame(columns=["model_id", "request_id", "pin_id", "score"])
    metrics = ranking.request_ranking_metrics(ranking.ranked_request_items(items, no_scores), [10])
    starts = items.groupby(["request_id", "user_id"], as_index=False)["impression_at"].min()
    requests = _in_post_period(users.merge(starts, on="user_id"), "impression_at")
    judged = requests.merge(metrics[metrics["ndcg"].notna()], on="request_id")
    ndcg = judged.groupby(KEY)["ndcg"].agg(ndcg_at_10_sum="sum", ndcg_at_10_requests="size")
    return placed.join(ndcg, how="outer")


def position_ctr(
    assignments_frame: pd.DataFrame, experiments: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """fct_experiment_position_ctr: positioned impressions and clicks of assigned users in the
    post period, per (experiment, variant, surface, feed_position)."""
    users = assignments_frame.merge(experiments[["experiment_id", "end_at"]], on="experiment_id")
    placed = events[
        events["event_type"].isin(["impression", "click"]) & events["feed_position"].notna()
    ]
    user_events = users.merge(placed, on="user_id")
    post = user_events[
        (user_events["event_at"] >= user_events["first_assigned_at"])
        & (user_events["event_at"] <= user_events["end_at"])
    ]
    slot = ["experiment_id", "variant", "surface", "feed_position"]
    return post.groupby(slot, as_index=False).agg(
        impressions=("event_type", lambda kind: int((kind == "impression").sum())),
        clicks=("event_type", lambda kind: int((kind == "click").sum())),
        users=("user_id", "nunique"),
    )


def _post_period_users(assignments_frame: pd.DataFrame, experiments: pd.DataFrame) -> pd.DataFrame:
    return assignments_frame.merge(experiments[["experiment_id", "end_at"]], on="experiment_id")


def exposures(
    assignments_frame: pd.DataFrame, experiments: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """fct_experiment_exposures: per (experiment, user, surface), the assigned user's
    impressions on the surface in the post period and the first of them; only users with one."""
    impressions = events[events["event_type"] == "impression"]
    shown = _in_post_period(
        _post_period_users(assignments_frame, experiments).merge(impressions, on="user_id"),
        "event_at",
    )
    return shown.groupby([*KEY, "surface", "variant"], as_index=False).agg(
        first_exposed_at=("event_at", "min"), impressions=("event_id", "size")
    )


def user_daily_metrics(
    assignments_frame: pd.DataFrame,
    experiments: pd.DataFrame,
    events: pd.DataFrame,
    transactions: pd.DataFrame,
) -> pd.DataFrame:
    """fct_experiment_user_daily_metrics: per (experiment, user, UTC day) with a post-period
    event or completed transaction, the user mart's values of that day (sparse)."""
    users = _post_period_users(assignments_frame, experiments)
    day = [*KEY, "metric_date"]
    post = _in_post_period(users.merge(events, on="user_id"), "event_at")
    post = post.rename(columns={"event_date": "metric_date"})
    by_type = pd.crosstab([post[c] for c in day], post["event_type"]).reindex(
        columns=["impression", "click", "save", "hide"], fill_value=0
    )
    by_type.columns = ["impressions", "clicks", "saves", "hides"]
    by_type["active_days"] = 1
    completed = transactions[transactions["status"] == "completed"]
    paid = _in_post_period(users.merge(completed, on="user_id"), "transacted_at")
    paid = paid.rename(columns={"transacted_date": "metric_date"})
    revenue = paid.groupby(day)["amount_usd"].sum().astype(float).rename("revenue_usd")
    result = by_type.join(revenue, how="outer").fillna(0).reset_index()
    result = result.merge(users[[*KEY, "variant", "first_assigned_at"]], on=KEY)
    result["metric_date"] = pd.to_datetime(result["metric_date"])
    result["first_assigned_date"] = result["first_assigned_at"].dt.normalize()
    result["days_since_assignment"] = (
        result["metric_date"] - result["first_assigned_date"]
    ).dt.days
    # the running totals over each (experiment, user)'s rows in date order, and their rank
    result = result.sort_values(day, ignore_index=True)
    by_user = result.groupby(KEY, sort=False)
    to_date = [f"{column}_to_date" for column in DAILY_COLUMNS]
    result[to_date] = by_user[DAILY_COLUMNS].cumsum().to_numpy()
    result["user_day_number"] = by_user.cumcount() + 1
    return result[
        [
            *day,
            "variant",
            "first_assigned_date",
            "days_since_assignment",
            *DAILY_COLUMNS,
            *to_date,
            "user_day_number",
        ]
    ]
