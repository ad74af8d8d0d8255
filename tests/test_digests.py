"""Bundled scenarios give the same numbers as before: SHA-256 digests of small runs.

The digests were taken before per-period parameters, dated closure, age mixes, duration,
trend and arrears entered the kernel; every new field defaults to the old behaviour, so a
change of any digest means a default run changed (a reordered draw, a new sub-stream used
by default, a different rounding). Variables added since are left out of the hash.
"""

import hashlib

import numpy as np
import pytest

from engine.scenario import load_scenario
from engine.simulate import simulate

DIGESTS = {
    "xianghubao": "fbcd0b3a9012c637410fc88820da1027703a9b1f823ca2fb1a61d70937e8b12f",
    "kangai": "3da6407b8bc851b273b66be55fc2a18b5c0c35782c8fd6f8446fce5be08649bf",
    "xianghubao_death_spiral": "6b24b4777026fa1ad38d5be8847bf0bf132beff9d5f03c091d4e51948487442f",
    "kangai_stress": "757ff1ea22433a8820f2cc34fe4d8e98291e8f9fd910bc4e471e4a45752ed6f4",
    "qingsong": "722d750022057fe63ebf0149c5e555ffbedb02dc15a97910944bc1db4460e5a8",
    "denghuo": "f80e4429acffb70f9ea6db73b8cafe2b12b09a8cdf6eedf2fe914b7a71c3b128",
    "levers": "371e21b6653b99c37b0e13882ec5fc65474bfdf42da9e13ffd578d9ea9a0ec2e",
}

LEVERS = {  # the death spiral closing early, with a reserve fund and a transfer at closure
    "termination": {"min_members": 60_000_000},
    "policy": {
        "reserve": 1e9,
        "reserve_trigger": 5.0,
        "reserve_rate": 0.1,
        "transfer_at_closure": True,
        "transfer_cost": 3.0,
    },
}

OLD_VARIABLES = (
    "members sharing eligible waiting impaired claims approved cases_paid failures aged_out "
    "joiners exits deaths lapses active benefits fees share_pre share_post members_paid "
    "backstop shortfall recovered runoff liability prepay_pool revenue platform_cost net_cash "
    "reserve_draw reserve liability_pv backstop_pv shortfall_pv runoff_pv share_total "
    "platform_result log_weight cost_martingale reserve_pv stranded_contributions "
    "closure_period stranded_members"
).split()


def digest(name: str) -> str:
    if name == "levers":
        scenario = load_scenario("scenarios/xianghubao_death_spiral.toml").replace(**LEVERS)
    else:
        scenario = load_scenario(f"scenarios/{name}.toml")
    ds = simulate(scenario, paths=20, seed=7, years=3, threads=1)
    h = hashlib.sha256()
    for var in OLD_VARIABLES:
        values = np.ascontiguousarray(ds[var].values)
        h.update(var.encode())
        h.update(str(values.dtype).encode())
        h.update(values.tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_bundled_runs_are_unchanged(name):
    assert digest(name) == DIGESTS[name]
