"""Declared constraints on numeric parameters, checked where a value enters: in scikit-learn's spirit
(`_parameter_constraints`), written as data so that one table says what each parameter may be.

The CLI turns a constraint into an argparse type (`argument_type`), so `recovery predict --top-k -1` is refused
before anything loads; the model checks the same constraint again, so the Python API refuses it too.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass

from recovery_model.errors import ParameterError


@dataclass(frozen=True)
class Interval:
    """`low ≤ value ≤ high` (or `<` where `closed` leaves that end open); None: unbounded on that side.
    `whole`: the value must be a whole number."""

    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both", "left", "right" or "neither"
    whole: bool = False

    def holds(self, value: float) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            return False
        if self.whole and value != int(value):
            return False
        left_closed, right_closed = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (value == self.low and not left_closed)):
            return False
        return not (self.high is not None and (value > self.high or (value == self.high and not right_closed)))

    def describe(self) -> str:
        def number(v: float) -> str:
            return str(int(v)) if float(v).is_integer() else f"{v:g}"

        kind = "a whole number" if self.whole else "a number"
        if self.low is not None and self.high is not None:
            left, right = ("[" if self.closed in ("both", "left") else "("), ("]" if self.closed in ("both", "right")
                                                                          else ")")
            return f"{kind} in {left}{number(self.low)}, {number(self.high)}{right}"
        if self.low is not None:
            return f"{kind} {'≥' if self.closed in ('both', 'left') else '>'} {number(self.low)}"
        if self.high is not None:
            return f"{kind} {'≤' if self.closed in ('both', 'right') else '<'} {number(self.high)}"
        return kind


POSITIVE_COUNT = Interval(1, None, whole=True)
COUNT = Interval(0, None, whole=True)
FRACTION = Interval(0, 1, closed="neither")
SHARE = Interval(0, 1, closed="left")  # a probability of dropping, say: 0 allowed, 1 not
NON_NEGATIVE = Interval(0, None)
POSITIVE = Interval(0, None, closed="neither")
SEED = Interval(0, 2**32 - 1, whole=True)
HOURS_IN_A_YEAR = Interval(0, 24 * 365, closed="right")


def check(name: str, value: float, constraint: Interval) -> None:
    """Refuse `value` for parameter `name` unless it holds `constraint`, saying what it may be."""
    if not constraint.holds(value):
        hint = _percent_hint(value, constraint)
        raise ParameterError(f"{name} must be {constraint.describe()}, not {value!r}{hint}.")


def check_optional(name: str, value: float | None, constraint: Interval) -> None:
    if value is not None:
        check(name, value, constraint)


def _percent_hint(value: object, constraint: Interval) -> str:
    """'; did you mean 0.20?' for 20 where a fraction is expected: a percentage typed as on the Ward page."""
    if constraint == FRACTION and isinstance(value, int | float) and 1 < value < 100:
        return f" (a fraction of 1); did you mean {value / 100:.2f}?"
    return ""


def argument_type(constraint: Interval) -> Callable[[str], float]:
    """An argparse `type=` that parses a number and holds it to `constraint` (argparse names the option)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not constraint.holds(value):
            raise argparse.ArgumentTypeError(f"must be {constraint.describe()}, not {text}"
                                             f"{_percent_hint(value, constraint)}")
        return int(value) if constraint.whole else value

    parse.__name__ = constraint.describe()  # what argparse prints if it ever names the type
    return parse
