"""The kernel's inputs: named, typed structures and ``KernelInputs``, the arrays of a run
from which ``engine.scenario_inputs.prepare`` builds them.

``Inputs`` (a ``typing.NamedTuple`` of arrays, which numba compiles in nopython and
``prange`` code and caches) holds the arrays: those a dated change may alter carry a
leading regime axis (``hazard[regime[t]]``), the others are by period or fixed. ``Rules``
(a NamedTuple of integers) holds the fixed switches and sizes. The float parameters travel
as one table ``params[period, column]`` whose columns ``Params`` declares, by name and in
order, so any of them may vary from period to period without a new argument; the kernel
reads ``params[t, CAP_CASE]`` through the column constants below, derived from ``Params``.
(A NamedTuple of 33 per-period arrays made the kernel about 1.5 times slower, so the
parameters stay one table.) ``KernelInputs.par`` and ``ipar`` are laid out in the order of
``Params`` and ``Rules`` (``PAR`` and ``IPAR`` give the index of each name).
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from engine.presets import PERIODS_PER_YEAR


class Inputs(NamedTuple):
    """The kernel's arrays (int64 counts, float64 rates and money)."""

    members0: np.ndarray
    """Starting members ``[tenure, sex, age, class]``."""
    durations0: np.ndarray
    """Starting tenure-0 members by duration slot ``[slot, sex, age, class]``."""
    hazard: np.ndarray
    """Illness hazard per period ``[regime, sex, age, class]`` (``inf``: certain)."""
    approval: np.ndarray
    """Approval rate of a claim ``[regime, tenure]``."""
    benefit: np.ndarray
    """Benefit of a case ``[regime, age]`` (yuan)."""
    case_cost: np.ndarray
    """Cost of a case to the members, benefit and per-case fees ``[regime, age]`` (yuan)."""
    base_exit: np.ndarray
    """Exit hazard per period before the price response ``[regime, sex, age]``."""
    mortality: np.ndarray
    """Mortality hazard per period ``[regime, sex, age]``."""
    join_weights: np.ndarray
    """Joiners' mix ``[regime, sex, age]``, summing to 1."""
    join_expected: np.ndarray
    """Expected joiners before the price response ``[period]``."""
    age_up: np.ndarray
    """Everyone ages at the end of the period ``[period]`` (bool)."""
    new_year: np.ndarray
    """The period starts a calendar year ``[period]`` (bool)."""
    discount: np.ndarray
    """Discount factor of the period's cash flows ``[period]``."""
    regime: np.ndarray
    """The regime in force ``[period]`` (int64)."""
    tenure_factor: np.ndarray
    """Duration factor of the incidence by tenure ``[tenure]``."""
    slot_factor: np.ndarray
    """Duration factor of the incidence by duration slot of tenure 0 ``[slot]``."""
    closure_p: np.ndarray
    """Probability of an outside closure in the period ``[period]``."""


class Params(NamedTuple):
    """The float parameters of one period, by name: the columns of the kernel's parameter
    table ``params[period, column]`` (float64), in this order (``PAR``, and the column
    constants below)."""

    cap_case: float
    """Cap on a member's share of one case (yuan)."""
    cap_period: float
    """Cap on a member's share in a period (yuan), the plan's or the mandated maximum."""
    cap_year: float
    """Cap on a member's shares in a calendar year (yuan)."""
    member_fee: float
    """Management fee per member and period (yuan)."""
    failure_rate: float
    """Probability that a sharing member's deduction fails."""
    recovery_rate: float
    """Share of the failed deductions recovered (without arrears)."""
    prepay: float
    """Prepayment unit of prepay plans (yuan; 0: deduction plans)."""
    min_balance: float
    """Balance per member below which prepay members top up (yuan)."""
    topup: float
    """Probability that a prepay member tops up rather than lapse."""
    ref_share: float
    """The exits' and joiners' reference share (yuan)."""
    price_rate: float
    """Price-driven exit hazard per period at the reference share."""
    elasticity_standard: float
    """Price elasticity of the standard class's exits."""
    elasticity_impaired: float
    """Price elasticity of the impaired class's exits."""
    join_elasticity: float
    """Price elasticity of the joiners."""
    impaired_share: float
    """Impaired share of the joiners at the reference share."""
    impaired_sensitivity: float
    """Price sensitivity of the joiners' impaired share."""
    fixed_cost: float
    """Platform's fixed cost per period (yuan)."""
    cost_per_case: float
    """Platform's cost per claim investigated (yuan)."""
    cost_per_joiner: float
    """Platform's cost per joiner (yuan)."""
    tilt: float
    """Importance-sampling tilt per yuan of case cost (read in period 0)."""
    tilt_notice: float
    """The tilt in the periods of a closure notice instead (read in period 0)."""
    reserve: float
    """Reserve fund at the start (yuan; read in period 0)."""
    reserve_trigger: float
    """Share per member above which the reserve pays (yuan)."""
    reserve_rate: float
    """Share of the revenue paid into the reserve."""
    transfer_cost: float
    """Cost per member of a transfer at closure (yuan)."""
    incidence: float
    """Incidence factor of the period (the trend)."""
    failure_sd: float
    """Standard deviation of the period's failure rate (a beta draw)."""
    backpay: float
    """Probability that a member in arrears who pays again pays the arrears back."""
    claims_rush: float
    """Incidence factor during the notice."""
    multiplier_sd: float
    """Standard deviation of the log incidence multiplier of a path (read in period 0)."""
    trend_sd: float
    """Standard deviation of the log trend factor by the period's time."""
    dispersion: float
    """Variance of the period's gamma incidence factor."""
    shock_rate: float
    """Expected incidence shocks per period."""
    shock_size: float
    """Incidence added by one shock."""


class Rules(NamedTuple):
    """Fixed integer sizes and switches of a run (0 off, 1 on)."""

    lag: int
    """Payment lag: periods between approval and sharing."""
    notice: int
    """Notice periods after closure is announced."""
    max_age: int
    """Members past this age leave on their anniversary."""
    n_elig: int
    """Tenures whose members can claim (seasoned and audit window)."""
    waiting_share: int
    """Members in the waiting period share the cases."""
    claimants_leave: int
    """Approved claimants leave the plan."""
    min_members: int
    """Closure is announced when the sharing members fall below this."""
    exits_on: int
    """Voluntary exits or deaths are drawn."""
    mortality_on: int
    """Deaths are told apart from exits."""
    transfer: int
    """The members still in the plan at its end are transferred (at a cost)."""
    pay_notice: int
    """The members pay during the notice."""
    announce: int
    """Period in which closure is announced (-1: none)."""
    hazard_on: int
    """An outside closure may be drawn."""
    remove_after: int
    """Failed deductions in a row that remove a member (0: never)."""
    arrears_on: int
    """Failed deductions are kept as arrears."""
    duration_on: int
    """Duration factors of the incidence are on."""


PAR = {name: i for i, name in enumerate(Params._fields)}
"""Index of each float parameter in ``KernelInputs.par`` and the table's columns."""
IPAR = {name: i for i, name in enumerate(Rules._fields)}
"""Index of each integer rule in ``KernelInputs.ipar``."""
N_PAR, N_IPAR = len(PAR), len(IPAR)


def par_array(**values: float) -> np.ndarray:
    """The float parameters as an array in ``Params`` order; every name, once.

    Examples
    --------
    >>> par_array(**dict.fromkeys(Params._fields, 1.0)).shape == (len(Params._fields),)
    True
    """
    if set(values) != set(PAR):
        raise ValueError(f"parameters {sorted(set(PAR) ^ set(values))} missing or unknown")
    return np.array([float(values[name]) for name in PAR])


def ipar_array(**values: int) -> np.ndarray:
    """The integer rules as an int64 array in ``Rules`` order; every name, once."""
    if set(values) != set(IPAR):
        raise ValueError(f"rules {sorted(set(IPAR) ^ set(values))} missing or unknown")
    return np.array([int(values[name]) for name in IPAR], dtype=np.int64)


@dataclass(frozen=True)
class KernelInputs:
    """Everything the kernel needs, as arrays, derived from a scenario by
    ``engine.scenario_inputs.prepare``; ``args()`` gives the kernel's ``Inputs``, ``Params`` and
    ``Rules``. The arrays and ``par`` are those in force at the start; ``later`` holds the same for
    each set of dated changes, in force from the periods where ``regime`` names them.
    """

    members0: np.ndarray
    hazard: np.ndarray
    approval: np.ndarray
    benefit: np.ndarray
    case_cost: np.ndarray
    base_exit: np.ndarray
    mortality: np.ndarray
    join_weights: np.ndarray
    join_expected: np.ndarray
    age_up: np.ndarray
    new_year: np.ndarray
    discount: np.ndarray
    par: np.ndarray
    ipar: np.ndarray
    dates: pd.DatetimeIndex
    durations0: np.ndarray
    tenure_factor: np.ndarray
    slot_factor: np.ndarray
    incidence_factor: np.ndarray
    closure_p: np.ndarray
    regime: np.ndarray
    later: tuple["KernelInputs", ...] = ()

    def stacked(self, name: str) -> np.ndarray:
        """The array ``name`` of every regime, stacked on a leading axis."""
        arrays = [getattr(self, name), *(getattr(r, name) for r in self.later)]
        return np.ascontiguousarray(np.stack(arrays))

    def table(self) -> np.ndarray:
        """The per-period parameter table ``[period, parameter]`` (see engine.kernel)."""
        table = self.stacked("par")[self.regime]
        table[:, PAR["incidence"]] *= self.incidence_factor
        table[:, PAR["trend_sd"]] *= np.arange(len(table)) / PERIODS_PER_YEAR
        return table

    def args(self) -> tuple[Inputs, np.ndarray, Rules]:
        """The kernel's inputs: ``run_paths(key, first_path, *inputs.args(), *outputs)``."""
        stacked = ("hazard", "approval", "benefit", "case_cost", "base_exit", "mortality")
        arrays = {name: getattr(self, name) for name in Inputs._fields}
        arrays.update((name, self.stacked(name)) for name in (*stacked, "join_weights"))
        return Inputs(**arrays), self.table(), Rules._make(int(x) for x in self.ipar)


# The columns of the parameter table, by name (the kernel reads ``params[t, CAP_CASE]``)
CAP_CASE = PAR["cap_case"]
CAP_PERIOD = PAR["cap_period"]
CAP_YEAR = PAR["cap_year"]
MEMBER_FEE = PAR["member_fee"]
FAILURE_RATE = PAR["failure_rate"]
RECOVERY_RATE = PAR["recovery_rate"]
PREPAY = PAR["prepay"]
MIN_BALANCE = PAR["min_balance"]
TOPUP = PAR["topup"]
REF_SHARE = PAR["ref_share"]
PRICE_RATE = PAR["price_rate"]
ELASTICITY_STANDARD = PAR["elasticity_standard"]
ELASTICITY_IMPAIRED = PAR["elasticity_impaired"]
JOIN_ELASTICITY = PAR["join_elasticity"]
IMPAIRED_SHARE = PAR["impaired_share"]
IMPAIRED_SENSITIVITY = PAR["impaired_sensitivity"]
FIXED_COST = PAR["fixed_cost"]
COST_PER_CASE = PAR["cost_per_case"]
COST_PER_JOINER = PAR["cost_per_joiner"]
TILT = PAR["tilt"]
TILT_NOTICE = PAR["tilt_notice"]
RESERVE = PAR["reserve"]
RESERVE_TRIGGER = PAR["reserve_trigger"]
RESERVE_RATE = PAR["reserve_rate"]
TRANSFER_COST = PAR["transfer_cost"]
INCIDENCE = PAR["incidence"]
FAILURE_SD = PAR["failure_sd"]
BACKPAY = PAR["backpay"]
CLAIMS_RUSH = PAR["claims_rush"]
MULTIPLIER_SD = PAR["multiplier_sd"]
TREND_SD = PAR["trend_sd"]
DISPERSION = PAR["dispersion"]
SHOCK_RATE = PAR["shock_rate"]
SHOCK_SIZE = PAR["shock_size"]

# Indices of the rules read by name outside the kernel (engine.cohorts, engine.tail)
N_ELIG, CLAIMANTS_LEAVE, WAITING_SHARE = (
    IPAR["n_elig"],
    IPAR["claimants_leave"],
    IPAR["waiting_share"],
)
EXITS_ON, MAX_AGE = IPAR["exits_on"], IPAR["max_age"]
