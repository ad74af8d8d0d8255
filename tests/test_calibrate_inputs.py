"""Bad calibration data never crashes: generated observation files are read or refused
naming the row and column, ``huzhu calibrate`` exits 0 or 2 with one line; and the edge
cases that once broke the fit (certain illness, wild over-dispersion, astronomical member
counts, as many cases as members)."""

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from engine.calibrate import calibrate, read_observations
from tests.inputs import TEXT, assert_one_line_error, cli, examples

DATES = pd.date_range("2019-01-01", periods=24, freq="SMS")


GOOD_ROWS = [
    [str(d.date()), str(2_000_000 + 1000 * i), str(40 + i % 7)] for i, d in enumerate(DATES)
]


HEADER = ["period", "members", "cases", "paid", "share", "cases_0_39", "members_0_39"]


CELL_JUNK = st.one_of(
    st.integers(0, 10**7).map(str),
    st.floats(0, 1e7).map(repr),
    st.sampled_from(
        ["", " ", "nan", "inf", "-inf", "-1", "1.5", "1e400", "1e308", "0", "abc", "2020-13-01"]
    ),
    st.sampled_from(["9" * 400, "1e20", "0x10", "１２", "5_000", "+3", " 7 ", '"', "a,b", "\x00"]),
    st.text(TEXT, max_size=10),
    st.integers(-(10**30), 10**30).map(str),
    st.floats().map(repr),
)


@st.composite
def observation_bytes(draw: st.DrawFn) -> bytes:
    """A valid observations CSV with cells, columns or bytes damaged."""
    header = HEADER[: draw(st.integers(3, len(HEADER)))]
    rows = [
        [*r, *(["1000", "0.5", "10", "500000"][: len(header) - 3])]
        for r in GOOD_ROWS[: draw(st.integers(1, len(GOOD_ROWS)))]
    ]
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["cell"] * 6 + ["header", "drop", "extra", "swap", "dup"]))
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, max(len(rows[r]), 1) - 1))
        if how == "cell" and rows[r]:
            rows[r][c] = draw(CELL_JUNK)
        elif how == "header":
            header[c % len(header)] = draw(
                st.sampled_from([*HEADER, "cases_40_20", "cases_0_200", "x", ""])
            )
        elif how == "drop" and rows[r]:
            del rows[r][c]
        elif how == "extra":
            rows[r].append(draw(CELL_JUNK))
        elif how == "swap" and len(rows) > 1:
            rows[0], rows[-1] = rows[-1], rows[0]
        elif how == "dup":
            rows.insert(r, list(rows[r]))
    text = "\n".join(",".join(row) for row in [header, *rows]) + "\n"
    encoding = draw(st.sampled_from(["utf-8"] * 12 + ["utf-8-sig", "utf-16", "latin-1", "cut"]))
    if encoding == "cut":
        raw = text.encode()
        return raw[: draw(st.integers(0, len(raw)))]
    return text.replace("period", "périod" if encoding == "latin-1" else "period").encode(
        encoding, errors="replace"
    )


OBS_MESSAGE = re.compile(
    r"^obs\.csv(: (the file is empty|no data rows|not a CSV text file)| row \d+)"
)


@examples(1500)
@given(raw=observation_bytes())
def test_read_observations_reads_or_names_row_and_column(folder: Path, raw: bytes) -> None:
    path = folder / "obs.csv"
    path.write_bytes(raw)
    try:
        frame = read_observations(path)
        event("observations: read")
    except ValueError as exc:
        event("observations: rejected")
        assert OBS_MESSAGE.match(str(exc)), str(exc)
        assert "\n" not in str(exc)
    else:
        assert frame.index.is_monotonic_increasing
        assert np.isfinite(frame.to_numpy()[~np.isnan(frame.to_numpy())]).all()
        assert (frame.fillna(0).to_numpy() >= 0).all()


@examples(250)
@given(raw=observation_bytes())
def test_cli_calibrate_exits_0_or_2(folder: Path, raw: bytes) -> None:
    path = folder / "obs.csv"
    path.write_bytes(raw)
    code, out, err, warned = cli(["calibrate", str(path), "--plan", "xianghubao"])
    event(f"calibrate: exit {code}")
    assert code in (0, 2), err
    if code == 2:
        assert_one_line_error(err)
        assert "obs.csv" in err
    else:
        assert "incidence multiplier k" in out
        assert not warned, warned


def _observations(tmp_path: Path, members: int, cases: int) -> Path:
    path = tmp_path / "obs.csv"
    rows = [f"{d.date()},{members},{cases}" for d in DATES[:4]]
    path.write_text("\n".join(["period,members,cases", *rows]) + "\n", encoding="utf-8")
    return path


def test_calibrate_at_a_high_multiplier_gives_finite_numbers(tmp_path: Path) -> None:
    """600 cases a half-month among a million members: k near 6.5, q k >= 1 at old ages."""
    path = _observations(tmp_path, 1_000_000, 600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal = calibrate(path, "xianghubao")
    assert 6 < cal.k.value < 7
    assert math.isfinite(cal.plan_benefit) and np.isfinite(cal.fitted_share).all()


def test_calibrate_of_wildly_over_dispersed_counts_gives_no_warnings(tmp_path: Path) -> None:
    """About 40 cases a period among 10^9 members, then among 1,000: the counts are
    over-dispersed, and the negative-binomial fit must cope with means that overflow and
    a flat likelihood without numerical warnings."""
    path = tmp_path / "obs.csv"
    members = [10**9, 1000, 1000]
    lines = [
        f"{d.date()},{m},{40 + i}" for i, (d, m) in enumerate(zip(DATES[:3], members, strict=True))
    ]
    path.write_text("\n".join(["period,members,cases", *lines]) + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal = calibrate(path, "xianghubao")
    assert cal.overdispersed and cal.nb_k is not None
    assert math.isfinite(cal.nb_k.value) and math.isfinite(cal.nb_k.high)


def _members_column(tmp_path: Path, members: str) -> Path:
    path = tmp_path / "obs.csv"
    lines = [f"{d.date()},{members},40" for d in DATES[:2]]
    path.write_text("\n".join(["period,members,cases", *lines]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("members", ["1.0000001e13", "1e20", "1e307", "1e308"])
def test_astronomical_member_counts_are_refused(tmp_path: Path, members: str) -> None:
    """Member counts near the largest float made the fitted k underflow to 0 (0 / 0, NaN
    results) or the sum of members overflow: a cell holds at most 1e13."""
    with pytest.raises(ValueError) as info:
        read_observations(_members_column(tmp_path, members))
    assert str(info.value) == (
        f"obs.csv row 2, column members: {members!r} is above 1e+13, more than any platform"
    )


def test_a_count_beyond_the_float_range_is_called_too_large(tmp_path: Path) -> None:
    """A 400-digit count is a whole number too large for any platform (``float`` makes it
    inf): it is called too large, not "not a whole number"."""
    with pytest.raises(ValueError) as info:
        read_observations(_members_column(tmp_path, "9" * 400))
    assert str(info.value).endswith("is above 1e+13, more than any platform")


def test_a_huge_cell_gives_a_short_message(tmp_path: Path) -> None:
    """A 100,000-character cell is cut in the message, like the scenario's values."""
    with pytest.raises(ValueError) as info:
        read_observations(_members_column(tmp_path, "1" * 100_000))
    assert str(info.value).startswith("obs.csv row 2, column members: ")
    assert len(str(info.value)) < 1000


def test_the_largest_member_count_calibrates(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal = calibrate(_members_column(tmp_path, "1e13"), "xianghubao")
    assert 0 < cal.k.value < 1e-4
    assert math.isfinite(cal.plan_benefit) and np.isfinite(cal.fitted_share).all()


def test_more_cases_than_members_is_an_error(tmp_path: Path) -> None:
    path = _observations(tmp_path, 1, 40)
    with pytest.raises(ValueError) as info:
        read_observations(path)
    assert str(info.value) == (
        "obs.csv row 2, column cases: 40 cases among 1 members (members); "
        "cases must be fewer than members"
    )


def test_as_many_cases_as_members_is_an_error(tmp_path: Path) -> None:
    """A whole pool falling ill in half a month fitted a multiplier of 136,969."""
    with pytest.raises(ValueError, match="40 cases among 40 members"):
        read_observations(_observations(tmp_path, 40, 40))
