"""A self-contained HTML report of a result: figures, risk tables, scenario and provenance.

The page has no external resource: figures are PNG images embedded as base64 ``data:``
URLs, styles are inline, so the one file reads the same offline, in a mail attachment or
in an archive years later.
"""

import base64
import datetime as dt
import html
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
import xarray as xr

from engine import risk
from engine.io import REPORT_GENERATOR, check_replace, scenario_of, write_atomic
from engine.plans import PERIODS_PER_YEAR
from engine.plotting import MissingVariableError, plan_label, plot, swept_fields
from engine.results import HEADLINE, summary

__all__ = ["figure_kinds", "render_report", "write_report"]

RUN_FIGURES = ("fan_chart", "exceedance", "membership", "components", "platform")
"""Figures of a single run, in page order."""

TOTALS = (*HEADLINE, "platform_result")
"""Per-path totals summarised in the risk table, those the result has."""

CAPTIONS = {
    "fan_chart": "Share per member and period after caps: median, 50% and 90% bands across "
    "paths, with the plan's finite caps.",
    "exceedance": "Exceedance curve of the discounted total liability, log scale, with a "
    "pointwise 95% band from order statistics, VaR and TVaR 99.5%.",
    "membership": "Members over time with the minimum membership, and the closure dates.",
    "components": "Mean platform liability per period by component.",
    "platform": "The platform's cumulative result, and its break-even scale from a sweep.",
    "heatmap": "A per-path statistic across the two swept fields.",
}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", sans-serif;
       margin: 2em auto; max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.subtitle { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; }
.note { color: #8a5a00; }
nav ul { columns: 3; }
"""


# --- building blocks -----------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(x: float, unit: str = "") -> str:
    if not math.isfinite(x):
        return "-" if math.isnan(x) else ("∞" if x > 0 else "-∞")
    if unit == "probability":
        return f"{x:.4f}"
    if abs(x) >= 1000 or x == int(x):
        return f"{x:,.0f}"
    return f"{x:,.4g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(c)}</td>' if i else f"<td>{_e(c)}</td>" for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<table id="{_e(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _is_run(ds: xr.Dataset) -> bool:
    return not swept_fields(ds)


def figure_kinds(ds: xr.Dataset) -> list[tuple[str, dict[str, Any]]]:
    """The figures a report of ``ds`` tries, as ``(kind, keyword arguments)``."""
    if _is_run(ds):
        return [(kind, {}) for kind in RUN_FIGURES]
    fields = swept_fields(ds)
    kinds: list[tuple[str, dict[str, Any]]] = []
    if len(fields) == 2:
        stat = "p_closure" if "closure_period" in ds.variables else "mean"
        kinds.append(("heatmap", {"stat": stat}))
    if list(fields) == ["population.members"]:
        kinds.append(("platform", {}))
    return kinds


def _figures(ds: xr.Dataset, dpi: float) -> tuple[list[str], list[str]]:
    shown, missing = [], []
    for kind, kwargs in figure_kinds(ds):
        try:
            fig = plot(ds, kind, dpi=dpi, **kwargs)
        except MissingVariableError as exc:
            missing.append(f'<li id="missing-{_e(kind)}">{_e(kind)}: {_e(exc)}</li>')
            continue
        shown.append(
            f'<figure id="figure-{_e(kind)}"><img class="figure" id="img-{_e(kind)}" '
            f'alt="{_e(kind)}" src="data:image/png;base64,{_png(fig)}">'
            f"<figcaption>{_e(CAPTIONS.get(kind, kind))}</figcaption></figure>"
        )
    return shown, missing


def _risk_table(ds: xr.Dataset) -> str:
    """A headline table (one row per total, at 99.5%) and the full summary, folded."""
    names = tuple(n for n in TOTALS if n in ds.variables and ds[n].dims == ("path",))
    if not names:
        return ""
    table = summary(ds, variables=names)
    cells = dict(zip(table.index, table.to_numpy(dtype=float), strict=True))
    headline, rows = [], []
    for name in names:
        unit = str(ds[name].attrs.get("units", ""))
        mean, p, var, tvar = (
            cells[(name, s)] for s in ("mean", "P(>0)", "VaR 99.5%", "TVaR 99.5%")
        )
        headline.append(
            [
                name,
                unit,
                f"{_number(mean[0])} ± {_number(mean[1])}",
                _number(cells[(name, "std")][0]),
                _number(p[0], "probability"),
                f"{_number(var[0])} [{_number(var[2])}, {_number(var[3])}]",
                f"{_number(tvar[0])} ± {_number(tvar[1])}",
            ]
        )
    for key, values in cells.items():
        name, statistic = str(key[0]), str(key[1])
        unit = "probability" if statistic == "P(>0)" else str(ds[name].attrs.get("units", ""))
        rows.append([name, statistic, unit, *(_number(float(v), unit) for v in values)])
    top = _table(
        [
            "per path",
            "units",
            "mean ± s.e.",
            "sd",
            "P(> 0)",
            "VaR 99.5% [95% interval]",
            "TVaR 99.5% ± s.e.",
        ],
        headline,
        "table-headline",
    )
    header = ["variable", "statistic", "units", "estimate", "std error", "95% low", "95% high"]
    full = _table(header, rows, "table-risk")
    return f"{top}<details><summary>Every level, with intervals</summary>{full}</details>"


def _yearly_table(ds: xr.Dataset) -> str:
    if "period" not in ds.dims or ds.sizes["period"] == 0:
        return ""
    columns = [
        ("members", "last", "members at year end"),
        ("claims", "sum", "claims"),
        ("share_post", "sum", "share per member (yuan)"),
        ("benefits", "sum", "benefits (yuan)"),
        ("backstop", "sum", "cap backstop (yuan)"),
        ("liability", "sum", "liability (yuan)"),
        ("runoff", "sum", "run-off (yuan)"),
        ("net_cash", "sum", "platform net cash (yuan)"),
    ]
    columns = [c for c in columns if c[0] in ds.variables and set(ds[c[0]].dims) >= {"period"}]
    if not columns:
        return ""
    year = np.arange(ds.sizes["period"]) // PERIODS_PER_YEAR
    w = risk.weights(ds) if "path" in ds.dims else None
    rows = []
    for y in np.unique(year):
        idx = np.flatnonzero(year == y)
        start = str(np.datetime_as_string(ds["period"].values[idx[0]], unit="D"))
        row: list[Any] = [f"{y + 1} (from {start})"]
        for name, how, _ in columns:
            values = np.asarray(ds[name].transpose("path", "period").values[:, idx], dtype=float)
            per_path = values[:, -1] if how == "last" else values.sum(axis=1)
            row.append(_number(risk.mean(per_path, w).estimate))
        rows.append(row)
    return _table(["year", *(f"mean {c[2]}" for c in columns)], rows, "table-years")


def _closure_table(ds: xr.Dataset) -> str:
    if "closure_period" not in ds.variables or ds["closure_period"].dims != ("path",):
        return ""
    closure = np.asarray(ds["closure_period"].values, dtype=np.int64)
    if closure.size == 0:
        return ""
    w = risk.weights(ds)
    periods = ds.sizes.get("period", int(closure.max(initial=0)) + 1)
    years = max(math.ceil(periods / PERIODS_PER_YEAR), 1)
    rows = []
    for y in range(1, years + 1):
        closed = (closure >= 0) & (closure < y * PERIODS_PER_YEAR)
        p = risk.prob_above(closed, 0.0, w)
        rows.append([f"{y}", f"{p.estimate:.4f}", f"{p.std_error:.4f}"])
    return _table(["by end of year", "P(closed)", "std error"], rows, "table-closure")


def _sweep_table(ds: xr.Dataset) -> str:
    if _is_run(ds) or "liability_pv" not in ds.variables:
        return ""
    risk.refuse_weighted(ds, "the sweep table")
    fields = swept_fields(ds)
    dims = list(fields.values())
    liability = ds["liability_pv"].transpose(*dims, "path")
    closure = (
        ds["closure_period"].transpose(*dims, "path") if "closure_period" in ds.variables else None
    )
    rows = []
    for index in np.ndindex(*liability.shape[:-1]):
        point = dict(zip(dims, index, strict=True))
        x = liability.isel(point)
        t = summary(x.to_dataset(name="liability_pv"), ("liability_pv",), (0.995,))
        est = dict(
            zip(t.index.get_level_values(1), t["estimate"].to_numpy(dtype=float), strict=True)
        )
        labels = [str(ds[d].values[i]) if d in ds.coords else str(i) for d, i in point.items()]
        row = [
            ", ".join(labels),
            _number(est["mean"]),
            _number(est["VaR 99.5%"]),
            _number(est["TVaR 99.5%"]),
        ]
        if closure is not None:
            c = np.asarray(closure.isel(point).values)
            closed = (c >= 0) & (c < 5 * PERIODS_PER_YEAR)
            row.append(f"{risk.prob_above(closed, 0.0).estimate:.4f}")
        rows.append(row)
    header = [", ".join(fields), "mean liability_pv", "VaR 99.5%", "TVaR 99.5%"]
    if closure is not None:
        header.append("P(closure within 5 years)")
    return _table(header, rows, "table-sweep")


def _scenario_texts(ds: xr.Dataset) -> tuple[str, str]:
    raw = json.loads(ds.attrs["scenario"])
    pretty = json.dumps(raw, indent=2, ensure_ascii=False)
    try:
        data: Any = scenario_of(ds).model_dump()
    except ValueError:
        data = raw

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    try:
        toml = tomli_w.dumps(clean(data))
    except (TypeError, ValueError) as exc:
        toml = f"# cannot be written as TOML: {exc}"
    return pretty, toml


def _provenance(ds: xr.Dataset) -> str:
    rows = [[key, ds.attrs[key]] for key in ds.attrs if key != "scenario"]
    rows.append(["dimensions", ", ".join(f"{d}: {n:,}" for d, n in ds.sizes.items())])
    if "period" in ds.dims and ds.sizes["period"]:
        first, last = (np.datetime_as_string(ds["period"].values[i], unit="D") for i in (0, -1))
        rows.append(["periods", f"{first} to {last} (period starts)"])
    return _table(["attribute", "value"], rows, "table-provenance")


# --- the page ------------------------------------------------------------------------------


def render_report(ds: xr.Dataset, *, title: str | None = None, dpi: float = 100) -> str:
    """The report of a result as one HTML document (a string).

    Figures that need variables the result lacks are listed as not available instead.
    """
    scenario = json.loads(ds.attrs["scenario"])
    plan = scenario.get("plan", {})
    name = f"{plan.get('name', '')} ({plan.get('pinyin', '')})"
    heading = title or f"huzhu report: {scenario.get('name', 'scenario')} — {name}"
    figures, missing = _figures(ds, dpi)
    tables = [
        ("risk", "Risk measures of the per-path totals", _risk_table(ds)),
        ("years", "Year by year (means across paths)", _yearly_table(ds)),
        ("closure", "Probability of closure", _closure_table(ds)),
        ("sweep", "Across the sweep", _sweep_table(ds)),
    ]
    tables = [t for t in tables if t[2]]
    pretty, toml = _scenario_texts(ds)
    sections = [("figures", "Figures"), *((f"t-{k}", h) for k, h, _ in tables)]
    sections += [("scenario", "Scenario"), ("provenance", "Provenance")]
    nav = "".join(f'<li><a href="#{k}">{_e(h)}</a></li>' for k, h in sections)
    paths = ds.sizes.get("path", 0)
    what = f"{paths:,} paths"
    if "period" in ds.dims:
        what += f" × {ds.sizes['period']} semi-monthly periods"
    subtitle = " · ".join(
        _e(part)
        for part in (
            scenario.get("description", ""),
            what,
            f"seed {ds.attrs['seed']}",
            f"engine {ds.attrs['engine_version']}",
            f"created {ds.attrs['created']}",
            f"report written {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        )
        if part
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta name="generator" content="{REPORT_GENERATOR}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(heading)}</title><style>{STYLE}</style></head><body>",
        f"<header><h1>{_e(heading)}</h1>",
        f'<p class="subtitle">{subtitle}</p>',
        f"<p>Figures label the plan as {_e(plan_label(ds))}.</p></header>",
        f"<nav><ul>{nav}</ul></nav>",
        '<section id="figures"><h2>Figures</h2>',
        *figures,
    ]
    if missing:
        parts.append(
            f'<p class="note">Not available for this result:</p><ul>{"".join(missing)}</ul>'
        )
    parts.append("</section>")
    for key, heading_text, table in tables:
        parts.append(f'<section id="t-{key}"><h2>{_e(heading_text)}</h2>{table}</section>')
    parts += [
        '<section id="scenario"><h2>Scenario</h2>',
        "<p>As recorded in the result; <code>huzhu rerun</code> re-simulates it.</p>",
        f'<h3>TOML</h3><pre id="scenario-toml">{_e(toml)}</pre>',
        f'<h3>JSON</h3><pre id="scenario-json">{_e(pretty)}</pre></section>',
        f'<section id="provenance"><h2>Provenance</h2>{_provenance(ds)}</section>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(
    ds: xr.Dataset,
    path: str | Path,
    *,
    title: str | None = None,
    dpi: float = 100,
    force: bool = False,
) -> Path:
    """Write the HTML report of ``ds``: one self-contained page of figures, tables, the
    scenario and the seed, written atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        A run (its figures and summaries) or a sweep (its heat maps).
    path : str or Path
        The HTML file to write.
    title : str, optional
        The page's heading; by default ``huzhu report: SCENARIO — PLAN``.
    dpi : float
        Resolution of the embedded figures.
    force : bool
        Replace an existing ``path`` that is not a report this engine wrote
        (:func:`engine.io.check_replace`).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    >>> write_report(ds, out, dpi=30) == out
    True
    >>> '<meta name="generator" content="huzhu report">' in out.read_text(encoding="utf-8")
    True
    """
    check_replace(Path(path), force=force)
    text = render_report(ds, title=title, dpi=dpi)

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return write_atomic(Path(path), write)
