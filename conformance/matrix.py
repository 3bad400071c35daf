"""Parameter grids with readable ids and a covering quick level.

``grid(curve=CURVES, digest=DIGESTS, mode=("stream", "oneshot"))`` gives one
``pytest.param`` per combination, its id built from the domain values
(``P-384-sha512-oneshot``). A few combinations are marked ``quick``: enough that every
value of every axis appears at least once, so ``--level quick`` still touches each curve,
each digest and each mode of a clause while running a handful of cases.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Named:
    """A parameter value whose id differs from its value (bytes, tuples, None...)."""

    label: str
    value: Any

    def __str__(self) -> str:
        return self.label


def label(value: Any) -> str:
    if isinstance(value, Named):
        return value.label
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def unwrap(value: Any) -> Any:
    return value.value if isinstance(value, Named) else value


def grid(*, exclude=None, marks: Sequence = (), **axes: Sequence[Any]) -> list:
    """Every combination of AXES (keyword order = id order) as pytest params.

    EXCLUDE(**values) -> bool drops combinations that make no sense. Values given as
    :class:`Named` reach the test as their ``.value`` and appear in ids as their label.
    """
    names = list(axes)
    combos = [
        combo
        for combo in itertools.product(*(axes[name] for name in names))
        if not (exclude and exclude(**{n: unwrap(v) for n, v in zip(names, combo)}))
    ]
    quick = covering(combos, [list(axes[name]) for name in names])
    params = []
    for combo in combos:
        case_marks = list(marks) + ([pytest.mark.quick] if combo in quick else [])
        params.append(pytest.param(*(unwrap(v) for v in combo), id="-".join(label(v) for v in combo), marks=case_marks))
    return params


def covering(combos: list[tuple], axes: list[list]) -> set[tuple]:
    """A small subset of COMBOS in which every value of every axis appears at least once."""
    chosen: set[tuple] = set()
    missing = {(i, label(v)) for i, axis in enumerate(axes) for v in axis}
    # only values that survive the exclusions can be covered
    missing &= {(i, label(v)) for combo in combos for i, v in enumerate(combo)}
    while missing:
        best = max(combos, key=lambda c: sum((i, label(v)) in missing for i, v in enumerate(c)))
        chosen.add(best)
        missing -= {(i, label(v)) for i, v in enumerate(best)}
    return chosen


def single(values: Iterable[Any], *, quick: Iterable[Any] = (), marks: Sequence = ()) -> list:
    """One axis as params; the values in QUICK (default: the first) are the quick ones."""
    values = list(values)
    quick_labels = {label(v) for v in quick} or {label(values[0])}
    return [
        pytest.param(
            unwrap(v), id=label(v), marks=list(marks) + ([pytest.mark.quick] if label(v) in quick_labels else [])
        )
        for v in values
    ]
