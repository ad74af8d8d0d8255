"""``huzhu expected``: a member's expected share, computed exactly."""

import argparse


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plan", required=True)
    p.add_argument("--tier", help="the plan's tier (default: its first, as in scenario files)")
    p.add_argument("--age", type=int, required=True)
    p.add_argument("--sex", choices=["M", "F"], required=True)
    p.add_argument("--table", default="ci25")
    p.add_argument("--multiplier", type=float, default=0.5)


def run(args: argparse.Namespace) -> None:
    from engine.expected import member_share
    from engine.presets import preset

    plan = preset(args.plan)
    tier = args.tier or next(iter(plan.tiers))
    s = member_share(plan, tier, args.age, args.sex, table=args.table, multiplier=args.multiplier)
    print(
        f"{plan.name} ({args.plan}), tier {tier}, age {args.age}, sex {args.sex}, "
        f"table {args.table}, multiplier {args.multiplier:g}"
    )
    print(f"  annual incidence      {s.incidence:.6f}")
    print(f"  cost of one case      {s.case_cost:,.2f} yuan (benefit and fees)")
    print(f"  expected yearly share {s.annual:,.2f} yuan")
    print(f"  expected share/period {s.per_period:,.4f} yuan (constant hazard, as simulated)")
    if s.fixed_fee_annual:
        print(f"  per-member fee        {s.fixed_fee_annual:,.2f} yuan a year on top")
