"""The one table of output variables: name, kind, units and description of each.

The kernel's outputs (``counts[path, period, var]``, ``money[path, period, var]``,
``totals[path, var]``, ``path_ints[path, var]``) are laid out in this table's order, the
kernel writes them through index constants derived from it (``engine.kernel``), the
Dataset's ``units`` and ``description`` attributes come from it (``engine.results``) and the
NumPy reference reports by its names. A variable ``same_as`` another is not computed by
the kernel: the Dataset holds a copy of the other's values under its name.
"""

from typing import NamedTuple

COUNT, MONEY, TOTAL, PATH = "count", "money", "total", "path"
"""Kinds: per path and period counts (int64) and amounts (float64), per path totals
(float64) and integers (int64)."""

DIMS = {COUNT: ("path", "period"), MONEY: ("path", "period"), TOTAL: ("path",), PATH: ("path",)}
"""The Dataset dimensions of each kind."""


class Variable(NamedTuple):
    """One output variable."""

    name: str
    kind: str
    units: str
    description: str
    same_as: str = ""
    """Another variable whose values this one repeats under its own name (not computed)."""

    @property
    def dims(self) -> tuple[str, ...]:
        """The variable's Dataset dimensions."""
        return DIMS[self.kind]


TABLE = (
    Variable("members", COUNT, "members", "members at the end of the period (eligible + waiting)"),
    Variable("sharing", COUNT, "members", "members who shared the period's cases"),
    Variable(
        "eligible", COUNT, "members", "members past the waiting period, at the end of the period"
    ),
    Variable(
        "waiting", COUNT, "members", "members in the waiting period, at the end of the period"
    ),
    Variable(
        "impaired", COUNT, "members", "members of the impaired risk class, at the end of the period"
    ),
    Variable("claims", COUNT, "claims", "claims incurred by eligible members"),
    Variable("approved", COUNT, "claims", "claims approved at audit"),
    Variable(
        "cases_paid", COUNT, "claims", "approved claims due this period (after the payment lag)"
    ),
    Variable("failures", COUNT, "members", "sharing members whose deduction failed"),
    Variable("aged_out", COUNT, "members", "members who left at the plan's maximum age"),
    Variable("joiners", COUNT, "members", "new members (they start in the waiting period)"),
    Variable(
        "exits", COUNT, "members", "members who left of their own accord (base and price-driven)"
    ),
    Variable("deaths", COUNT, "members", "members who died (when mortality is on)"),
    Variable("lapses", COUNT, "members", "prepay plans: members who left rather than top up"),
    Variable("active", COUNT, "1", "1 while members share the cases, 0 after closure is announced"),
    Variable(
        "removed", COUNT, "members", "members removed after remove_after failed deductions in a row"
    ),
    Variable("benefits", MONEY, "yuan", "benefits of the cases shared this period"),
    Variable("fees", MONEY, "yuan", "management fees: per case, proportional and per member"),
    Variable(
        "share_pre",
        MONEY,
        "yuan/member",
        "cost of the period's cases per sharing member, before caps",
    ),
    Variable(
        "share_post",
        MONEY,
        "yuan/member",
        "share per sharing member after caps, before per-member fees",
    ),
    Variable("members_paid", MONEY, "yuan", "what the members paid (shares and per-member fees)"),
    Variable("backstop", MONEY, "yuan", "cap backstop: cost above the caps, paid by the platform"),
    Variable("shortfall", MONEY, "yuan", "failed deductions advanced by the platform"),
    Variable("recovered", MONEY, "yuan", "part of the shortfall recovered from the members"),
    Variable(
        "runoff", MONEY, "yuan", "benefits the platform pays alone after closure is announced"
    ),
    Variable(
        "liability",
        MONEY,
        "yuan",
        "platform liability: backstop + shortfall - recovered + runoff + reserve draws "
        "+ notice_paid",
    ),
    Variable("prepay_pool", MONEY, "yuan", "prepaid balances held by the custodian, end of period"),
    Variable("revenue", MONEY, "yuan", "platform revenue: the management fees", same_as="fees"),
    Variable(
        "platform_cost", MONEY, "yuan", "platform costs: fixed, per case investigated, per joiner"
    ),
    Variable("net_cash", MONEY, "yuan", "platform net cash flow: revenue - costs - liability"),
    Variable(
        "reserve_draw", MONEY, "yuan", "drawn from the platform's reserve fund to keep shares down"
    ),
    Variable("reserve", MONEY, "yuan", "the reserve fund at the end of the period"),
    Variable(
        "arrears", MONEY, "yuan", "arrears advanced by the platform and still owed, end of period"
    ),
    Variable(
        "written_off", MONEY, "yuan", "arrears written off (not paid back, or of members who left)"
    ),
    Variable(
        "notice_paid",
        MONEY,
        "yuan",
        "unpaid notice (members_pay_notice = false): the notice period's benefits and fees, "
        "paid by the platform",
    ),
    Variable(
        "exit_cost",
        MONEY,
        "yuan",
        "expected cost to the platform of a closure announced at the end of the period "
        "(notice periods' cases, pending claims, transfer), from the path's state; 0 once "
        "closing",
    ),
    Variable("liability_pv", TOTAL, "yuan", "discounted total platform liability over the horizon"),
    Variable("backstop_pv", TOTAL, "yuan", "discounted total cap backstop"),
    Variable("shortfall_pv", TOTAL, "yuan", "discounted total shortfall net of recoveries"),
    Variable("runoff_pv", TOTAL, "yuan", "discounted total run-off after closure"),
    Variable(
        "share_total",
        TOTAL,
        "yuan/member",
        "total due from a member sharing every period (shares, fees)",
    ),
    Variable(
        "platform_result", TOTAL, "yuan", "platform cumulative net cash flow over the horizon"
    ),
    Variable(
        "log_weight", TOTAL, "1", "log likelihood ratio of the path (0 without importance sampling)"
    ),
    Variable(
        "cost_martingale",
        TOTAL,
        "yuan",
        "sum of case cost x (claims - expected claims): mean exactly 0",
    ),
    Variable(
        "notice_martingale",
        TOTAL,
        "yuan",
        "the part of cost_martingale from the periods of a closure notice: mean exactly 0",
    ),
    Variable("reserve_pv", TOTAL, "yuan", "discounted total drawn from the reserve fund"),
    Variable(
        "stranded_contributions",
        TOTAL,
        "yuan",
        "past contributions of the members still in the plan when it ended",
    ),
    Variable(
        "closure_period", PATH, "period", "index of the period closure was announced; -1 if never"
    ),
    Variable("stranded_members", PATH, "members", "members still in the plan when it ended"),
    Variable(
        "closure_cause",
        PATH,
        "1",
        "what announced closure: 0 never, 1 members below the minimum, 2 the date "
        "(announce_on), 3 the outside-closure hazard",
    ),
)
"""Every output variable, in the order of the kernel's outputs within each kind."""

VARIABLES: dict[str, Variable] = {v.name: v for v in TABLE}
"""The table by name."""


def names(kind: str) -> tuple[str, ...]:
    """The names of the kernel's outputs of ``kind``, in their order (without the copies).

    Examples
    --------
    >>> names(PATH)
    ('closure_period', 'stranded_members', 'closure_cause')
    """
    return tuple(v.name for v in TABLE if v.kind == kind and not v.same_as)


COUNT_VARS = names(COUNT)
"""Per path and period counts, in the order of the kernel's ``counts`` output."""
MONEY_VARS = names(MONEY)
"""Per path and period amounts (yuan), in the order of the kernel's ``money`` output."""
TOTAL_VARS = names(TOTAL)
"""Per path totals, in the order of the kernel's ``totals`` output."""
PATH_INT_VARS = names(PATH)
"""Per path integers, in the order of the kernel's ``path_ints`` output."""
PERIOD_VARS = tuple(v.name for v in TABLE if v.kind in (COUNT, MONEY))
"""Every per path and period variable of the Dataset, copies included, in table order."""
