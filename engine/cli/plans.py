"""``huzhu plans``: the plan presets, one row per tier."""

import argparse

from engine.cli.table import money, table

HEADER = [
    "plan",
    "name",
    "tier",
    "benefit by age (yuan)",
    "fee",
    "cap/case",
    "cap/period",
    "cap/year",
    "waiting days",
    "prepay",
    "min members",
    "ages",
    "members 2020",
]


def arguments(p: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> None:
    from engine.presets import PRESETS, preset

    rows = []
    for key in PRESETS:
        plan = preset(key)
        for tier_name in plan.tiers:
            fee = plan.tier_fee(tier_name)
            bands = ", ".join(
                f"{b.min_age}-{min(b.max_age, plan.max_age)}: {b.benefit:,.0f}"
                for b in plan.tier(tier_name).bands
            )
            fee_text = " + ".join(
                part
                for part in (
                    "per-case tiers" if fee.per_case else "",
                    f"{fee.rate:.0%}" if fee.rate else "",
                    f"{fee.per_member_month:g}/member/month" if fee.per_member_month else "",
                )
                if part
            )
            rows.append(
                [
                    key,
                    plan.name,
                    tier_name,
                    bands,
                    fee_text,
                    money(plan.cap_per_case),
                    money(plan.cap_per_period),
                    money(plan.cap_per_year),
                    f"{plan.waiting_days}",
                    f"{plan.tier_prepayment(tier_name):g}",
                    f"{plan.min_members:,}" if plan.min_members else "-",
                    f"{plan.min_age}-{plan.max_age}",
                    f"{plan.members_2020:,}" if plan.members_2020 else "-",
                ]
            )
    print(table(rows, HEADER))
