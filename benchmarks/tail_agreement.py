"""Importance sampling against plain Monte Carlo on every bundled scenario.

For each ``scenarios/*.toml``: ``simulate_tail`` (the run of ``huzhu run --tail-target``)
with the scenario's paths, and a plain run of ``FACTOR`` times as many paths on other
paths of the same seed. For VaR and TVaR 99.5% of ``liability_pv`` it prints both
estimates, their standard errors, ``z = difference / combined error`` and the ratio of the
importance-sampling error to the error plain Monte Carlo would have with as many paths
(``se_plain * sqrt(FACTOR)``). A scenario passes when ``|z| <= 4`` and the ratio is at most 1
for both measures.

Run: ``python -m benchmarks.tail_agreement [--factor 20] [--paths N] [--years Y] [FILE ...]``;
the figures are written to ``benchmarks/results/tail_agreement.json``.
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from engine.scenario import load_scenario
from engine.simulate import simulate
from engine.tail import TailWarning, simulate_tail, tail_estimates

LEVEL = 0.995
ROOT = Path(__file__).resolve().parent.parent


def compare(
    path: Path, factor: int, paths: int | None, threads: int | None, years: float | None
) -> dict:
    """The figures of one scenario (see the module's docstring)."""
    scenario = load_scenario(path)
    if years is not None:
        scenario = scenario.replace(run={"years": years})
    n = paths or scenario.run.paths
    began = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TailWarning)
        ds, table = simulate_tail(scenario, LEVEL, paths=n, threads=threads)
    plain = simulate(scenario, paths=factor * n, first_path=10 * n, threads=threads)
    ref = tail_estimates(plain, "liability_pv", levels=(LEVEL,))
    out: dict = {"scenario": path.stem, "paths": n, "tilt": float(ds.attrs["tilt"])}
    out["warnings"] = [str(w.message) for w in caught]
    ok = True
    for stat in ("VaR 99.5%", "TVaR 99.5%"):
        a = table.loc[("liability_pv", stat)]
        b = ref.loc[stat]
        combined = float(np.hypot(a.std_error, b.std_error))
        diff = float(a.estimate - b.estimate)
        z = diff / combined if combined > 0 else (0.0 if diff == 0 else np.inf)
        plain_se = float(b.std_error) * np.sqrt(factor)
        ratio = (
            float(a.std_error / plain_se) if plain_se > 0 else (0.0 if a.std_error == 0 else np.inf)
        )
        ok &= abs(z) <= 4 and ratio <= 1
        out[stat] = {
            "tail": float(a.estimate),
            "tail_se": float(a.std_error),
            "plain": float(b.estimate),
            "plain_se": float(b.std_error),
            "z": z,
            "se_ratio": ratio,
        }
    out["mean_weight"] = float(table.loc[("liability_pv", "mean weight"), "estimate"])
    out["pass"] = bool(ok)
    out["seconds"] = time.perf_counter() - began
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenarios", nargs="*")
    p.add_argument("--factor", type=int, default=20)
    p.add_argument("--paths", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--years", type=float, help="horizon (default each scenario's)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tail_agreement.json"))
    args = p.parse_args()
    files = [Path(s) for s in args.scenarios] or sorted((ROOT / "scenarios").glob("*.toml"))
    rows = []
    for path in files:
        row = compare(path, args.factor, args.paths, args.threads, args.years)
        rows.append(row)
        v, t = row["VaR 99.5%"], row["TVaR 99.5%"]
        print(
            f"{row['scenario']:26s} {'pass' if row['pass'] else 'FAIL'}  "
            f"VaR z {v['z']:+6.2f} se ratio {v['se_ratio']:.3f}  "
            f"TVaR z {t['z']:+6.2f} se ratio {t['se_ratio']:.3f}  "
            f"mean weight {row['mean_weight']:.3f}  warnings {len(row['warnings'])}  "
            f"{row['seconds']:.0f} s",
            flush=True,
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(f"{sum(r['pass'] for r in rows)}/{len(rows)} scenarios pass")


if __name__ == "__main__":
    main()
