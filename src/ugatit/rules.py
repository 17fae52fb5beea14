"""The rules a setting's value must meet (type, finiteness, range, choices), each one message.

Hydra takes every override as given: ``model.loss.cycle_weight=abc`` used to end in a TypeError
deep inside, ``=nan`` silently dropped the loss term (``nan > 0`` is false). Each rule names the
key, the value and what is allowed. The same rules judge the composed configs (config_checks),
the methods' typed settings and the networks' keywords (``ugatit.registry``), so every value in
the project is judged one way, whether it came from a YAML file, the command line or a checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any, Protocol

from omegaconf import ListConfig

from ugatit.errors import ConfigError, UserError


class Rule(Protocol):
    def describe(self) -> str: ...

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None: ...


def _number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclasses.dataclass(frozen=True)
class Number:
    """An integer (``integer=True``) or a finite float within an optional range.

    Booleans and strings are refused (YAML ``true`` is not a number, ``'abc'`` not a weight), and
    so are NaN and infinity: a NaN compares false with everything, so range checks let it through.
    """

    integer: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: the value must be > low (else >= low)
    high_open: bool = False  # True: the value must be < high (else <= high)
    multiple_of: int | None = None
    optional: bool = False  # null allowed
    why: str = ""  # appended to the message in parentheses

    def describe(self) -> str:
        text = "an integer" if self.integer else "a finite number"
        if self.low is not None and self.high is not None:
            opening, closing = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text += f" in {opening}{_number_text(self.low)}, {_number_text(self.high)}{closing}"
        elif self.low is not None:
            text += f" {'>' if self.low_open else '>='} {_number_text(self.low)}"
        elif self.high is not None:
            text += f" {'<' if self.high_open else '<='} {_number_text(self.high)}"
        if self.multiple_of:
            text += f" and a multiple of {self.multiple_of}"
        if self.optional:
            text += ", or null"
        return text

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return not (self.multiple_of and value % self.multiple_of)

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None:
        if not self.accepts(value):
            why = f" ({self.why})" if self.why else ""
            raise error(f"{key}={value!r} is invalid: it must be {self.describe()}{why}.")


@dataclasses.dataclass(frozen=True)
class Flag:
    """true or false; a string such as 'no' would otherwise count as true."""

    optional: bool = False

    def describe(self) -> str:
        return "true or false" + (", or null" if self.optional else "")

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None:
        if not (isinstance(value, bool) or (value is None and self.optional)):
            null = ", or null" if self.optional else ""
            raise error(f"{key}={value!r} is invalid: it must be true or false{null}.")


@dataclasses.dataclass(frozen=True)
class Pair:
    """Two values, each checked by ``item`` (Adam's betas)."""

    item: Number

    def describe(self) -> str:
        return f"two values [x, y], each {self.item.describe()}"

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None:
        if not isinstance(value, (list, tuple, ListConfig)) or len(value) != 2:
            raise error(
                f"{key}={value!r} is invalid: it must be two values [x, y], each "
                f"{self.item.describe()}."
            )
        for index, item in enumerate(value):
            self.item.check(f"{key}[{index}]", item, error)


_DEVICE_LIST = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*,?\s*$")


@dataclasses.dataclass(frozen=True)
class Devices:
    """What Lightning's ``devices`` takes: a count >= 1, -1 (all), auto, or device indices."""

    def describe(self) -> str:
        return "a number of devices >= 1, -1 (all), auto, or a list of device indices"

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None:
        if isinstance(value, bool):
            ok = False
        elif isinstance(value, int):
            ok = value >= 1 or value == -1
        elif isinstance(value, str):
            ok = value.strip() in ("auto", "-1") or bool(_DEVICE_LIST.match(value))
        elif isinstance(value, (list, tuple, ListConfig)):
            ok = bool(value) and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
            )
        else:
            ok = False
        if not ok:
            raise error(
                f"{key}={value!r} is invalid: it must be a number of devices >= 1, -1 (all), "
                "auto, or a list of device indices such as [0,1]."
            )


@dataclasses.dataclass(frozen=True)
class OneOf:
    """One of a fixed set of strings (a norm, a mode)."""

    choices: Sequence[str]
    why: str = ""  # appended to the message in parentheses (what each choice means)

    def describe(self) -> str:
        return "one of " + ", ".join(self.choices)

    def check(self, key: str, value: Any, error: type[UserError] = ConfigError) -> None:
        if not isinstance(value, str) or value not in self.choices:
            why = f" ({self.why})" if self.why else ""
            raise error(f"{key}={value!r} is invalid: it must be {self.describe()}{why}.")


POSITIVE_INT = Number(integer=True, low=1)
OPTIONAL_POSITIVE_INT = Number(integer=True, low=1, optional=True)
COUNT = Number(integer=True, low=0)  # 0 allowed
WEIGHT = Number(low=0)
FLAG = Flag()
FID_COUNT = Number(integer=True, low=2, optional=True, why="FID/KID need at least 2 images")
