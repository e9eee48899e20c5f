"""pandas mirror of the revenue mart (see models/marts/revenue/_revenue__models.yml)."""

from __future__ import annotations

import pandas as pd


def daily_revenue(transactions: pd.DataFrame, active_days: pd.DataFrame) -> pd.DataFrame:
    """fct_daily_revenue from stg_transactions and int_user_active_days, on a gap-free spine."""
    money = transactions.assign(
        revenue_date=pd.to_datetime(transactions["transacted_date"]),
        amount_usd=transactions["amount_usd"].astype(float),
    )
    completed = money[money["status"] == "completed"]
    by_date = pd.DataFrame(
        {
            "completed_revenue_usd": completed.groupby("revenue_date")["amount_usd"].sum(),
            "refunds_usd": money[money["status"] == "refunded"]
            .groupby("revenue_date")["amount_usd"]
            .sum(),
            "completed_transactions": completed.groupby("revenue_date").size(),
            "paying_users": completed.groupby("revenue_date")["user_id"].nunique(),
        }
    )
    dates = pd.to_datetime(active_days["activity_date"])
    active_users = active_days.groupby(dates)["user_id"].nunique()
    observed = pd.concat([by_date.index.to_series(), dates])
    spine = pd.date_range(observed.min(), observed.max(), freq="D", name="revenue_date")

    result = by_date.reindex(spine).fillna(0)
    result["active_users"] = active_users.reindex(spine, fill_value=0)
    result["net_revenue_usd"] = result["completed_revenue_usd"] - result["refunds_usd"]
    result["revenue_per_active_user"] = result["completed_revenue_usd"] / result[
        "active_users"
    ].where(result["active_users"] > 0)
    result["revenue_per_paying_user"] = result["completed_revenue_usd"] / result[
        "paying_users"
    ].where(result["paying_users"] > 0)
    return result.reset_index()[
        [
            "revenue_date",
            "completed_revenue_usd",
            "refunds_usd",
            "net_revenue_usd",
            "completed_transactions",
            "paying_users",
            "active_users",
            "revenue_per_active_user",
            "revenue_per_paying_user",
        ]
    ]
