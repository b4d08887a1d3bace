import datetime as dt
from decimal import Decimal

import pytest

from divpipe.sources import normalize
from divpipe.sources.normalize import InvalidValue


@pytest.mark.parametrize("raw", [None, "", "  ", "N/A", "n/a", "NA", "-", "--", "—", "–"])
def test_unknown_values_become_none(raw):
    assert normalize.money(raw) is None
    assert normalize.date(raw) is None
    assert normalize.text(raw) is None
    assert normalize.percent(raw) is None


@pytest.mark.parametrize(("raw", "expected"), [
    (0.25, Decimal("0.25")),
    (0.05, Decimal("0.05")),
    ("0.25", Decimal("0.25")),
    ("$0.25", Decimal("0.25")),
    (" $0.1234 ", Decimal("0.1234")),
    ("$1,234.50", Decimal("1234.50")),
    (2, Decimal(2)),
    (".5", Decimal("0.5")),
])
def test_money(raw, expected):
    assert normalize.money(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "$", "0.25.1", "1e5", True, float("nan"), float("inf"), [1], "$-"])
def test_bad_money_is_an_error(raw):
    with pytest.raises(InvalidValue):
        normalize.money(raw)


def test_positive_money_rejects_zero_and_negative():
    assert normalize.positive_money("$0.01") == Decimal("0.01")
    for raw in ("0", "-0.5", 0):
        with pytest.raises(InvalidValue, match="positive"):
            normalize.positive_money(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("95.12%", Decimal("95.12")), ("0%", Decimal(0)), ("-", None), ("-%", None),
    (" 12.5 % ", Decimal("12.5")),
])
def test_percent(raw, expected):
    assert normalize.percent(raw) == expected


def test_bad_percent_names_itself():
    with pytest.raises(InvalidValue, match="percentage"):
        normalize.percent("lots%")


@pytest.mark.parametrize(("raw", "expected"), [
    ("10/02/2026", dt.date(2026, 10, 2)),
    ("9/8/2026", dt.date(2026, 9, 8)),
    ("9/08/2026", dt.date(2026, 9, 8)),
    ("Nov 3, 25", dt.date(2025, 11, 3)),
    ("Nov 3, 2025", dt.date(2025, 11, 3)),
    ("Sept. 30, 2026", dt.date(2026, 9, 30)),
    ("November 12, 2025", dt.date(2025, 11, 12)),
    ("november 12 2025", dt.date(2025, 11, 12)),
    ("2026-11-30", dt.date(2026, 11, 30)),
    ("2026-11-30T00:00:00", dt.date(2026, 11, 30)),
    ("2026-11-30T00:00:00Z", dt.date(2026, 11, 30)),
    (dt.date(2026, 1, 2), dt.date(2026, 1, 2)),
])
def test_dates(raw, expected):
    assert normalize.date(raw) == expected


@pytest.mark.parametrize("raw", ["13/01/2026", "2/30/2026", "Foo 3, 2025", "2026/11/30", "1/1/1900",
                                 "tomorrow", 20261130, "11-30-2026"])
def test_bad_dates_are_errors(raw):
    with pytest.raises(InvalidValue):
        normalize.date(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("ulty", "ULTY"), (" MSTY® ", "MSTY"), ("TSLY™", "TSLY"), ("CONY(R)", "CONY"), ("NVDY (TM)", "NVDY"),
    ("BRK.B", "BRK.B"), ("BRK-B", "BRK.B"), ("bf.b", "BF.B"), ("O", "O"),
])
def test_symbols(raw, expected):
    assert normalize.symbol(raw) == expected


@pytest.mark.parametrize("raw", ["", "N/A", None, "ULTY2", "4", "TOOLONGX", "AB CD", "BRK.BBB", "ABR^D", 7,
                                 "A$"])
def test_bad_symbols_are_errors_and_digits_are_never_stripped(raw):
    with pytest.raises(InvalidValue):
        normalize.symbol(raw)


def test_error_messages_stay_short():
    with pytest.raises(InvalidValue) as info:
        normalize.date("x" * 500)
    assert len(str(info.value)) < 80
