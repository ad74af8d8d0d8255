"""Sweep the healthy members' price elasticity and the marketing inflow of the 相互宝 death
spiral, and tabulate P(closure within 5 years) with its standard error.

    python scenarios/sweep_elasticity_inflow.py [--paths N] [--out FILE.nc]
"""

import argparse
from pathlib import Path

import numpy as np

from engine.io import save
from engine.scenario import load_scenario
from engine.sweep import sweep

HERE = Path(__file__).parent
GRID = {
    "exits.elasticity_standard": [1.0, 2.0, 3.0],
    "growth.joiners": [250_000, 1_000_000, 4_000_000],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", type=int, default=100)
    parser.add_argument("--years", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=20200801)
    parser.add_argument("--out", default="sweep_elasticity_inflow.nc")
    args = parser.parse_args()
    base = load_scenario(HERE / "xianghubao_death_spiral.toml").replace(run={"years": args.years})
    ds = sweep(base, GRID, paths=args.paths, seed=args.seed)
    closed = (ds.closure_period >= 0) & (ds.closure_period < 5 * 24)
    p = closed.mean("path")
    se = np.sqrt(p * (1 - p) / ds.sizes["path"])
    ds["p_closure_5y"] = p.assign_attrs(units="1", description="P(closure within 5 years)")
    print("P(closure within 5 years), rows: elasticity of standard members, columns: joiners")
    for e in ds.elasticity_standard.values:
        row = "  ".join(
            f"{float(p.sel(elasticity_standard=e, joiners=j)):.3f}"
            f"±{float(se.sel(elasticity_standard=e, joiners=j)):.3f}"
            for j in ds.joiners.values
        )
        print(f"  {e:>4g}: {row}")
    print(f"wrote {save(ds, args.out)}")


if __name__ == "__main__":
    main()
