"""A translation direction, defined once: ``a2b`` makes domain B's images from domain A's, ``b2a``
the other way. The training loop, translate, eval, export and the metrics all ask here."""

from __future__ import annotations

from typing import Literal

from ugatit.errors import UserError

Direction = Literal["a2b", "b2a"]
Domain = Literal["a", "b"]

DIRECTIONS: tuple[Direction, Direction] = ("a2b", "b2a")
DOMAINS: tuple[Domain, Domain] = ("a", "b")
# batch keys and folder letters: what a direction reads, what it makes
SOURCE_TARGET: dict[str, tuple[Domain, Domain]] = {"a2b": ("a", "b"), "b2a": ("b", "a")}
# the attribute of each direction's generator in every method (the state-dict prefix of every
# checkpoint this project has written; with "_ema", its weight average)
GENERATOR_NAMES: dict[str, str] = {"a2b": "generator_ab", "b2a": "generator_ba"}


def source(direction: str) -> Domain:
    return SOURCE_TARGET[direction][0]


def target(direction: str) -> Domain:
    return SOURCE_TARGET[direction][1]


def domain_index(domain: str) -> int:
    """0 for domain A, 1 for B (the position of its kind or typeface in a built-in pair)."""
    return DOMAINS.index(domain)  # type: ignore[arg-type]


def pair_indices(direction: str) -> tuple[int, int]:
    """(source, target) positions in a built-in pair's (A, B) kinds or typefaces."""
    return domain_index(source(direction)), domain_index(target(direction))


def check_direction(direction: str, error: type[UserError], key: str = "direction") -> Direction:
    """``direction`` itself when it is a2b or b2a; else one ``error`` naming both."""
    if direction not in DIRECTIONS:
        raise error(f"{key}={direction!r} is invalid; use a2b or b2a.")
    return direction  # type: ignore[return-value]
