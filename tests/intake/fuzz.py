"""The intake formats' fuzzing kit: whatever a sender puts in a record, parsing it either gives
a NormalizedAlert or raises RecordError with a reason, and nothing else escapes.

Each format's test file brings its own parse (or records) function, its odd values and its
vocabulary; what is done with them is here, once. Everything is deterministic: the random
tests take a seed, so a failure reproduces."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.intake.base import NormalizedAlert, RecordError

Check = Callable[[Any, NormalizedAlert], None]

# Odd values for JSON formats, around each format's own (a technique id, a digest's length...).
ODD_SCALARS = [
    None,
    True,
    0,
    -1,
    10**30,
    -(10**30),
    10**5000,  # str() of it raises ValueError (int_max_str_digits)
    1.5e300,
    "",
    " ",
    "-",
    "x",
]
ODD_CONTAINERS = [[], {}, [None], [{}], [[]], {"x": []}]


# --- one field at a time ----------------------------------------------------------------------


def paths(node, prefix: tuple = ()) -> Iterator[tuple]:
    """The path of every node of a JSON document, the document itself (()) first."""
    yield prefix
    if isinstance(node, dict | list):
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            yield from paths(child, (*prefix, key))


def replaced(document, path: tuple, value):
    """A copy of the document with the node at path replaced by (a copy of) value."""
    if not path:
        return copy.deepcopy(value)
    result = copy.deepcopy(document)
    node = result
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = copy.deepcopy(value)
    return result


def removed(document, path: tuple):
    """A copy of the document without the node at path (not the root)."""
    result = copy.deepcopy(document)
    node = result
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return result


def variants(document, odd_values: Sequence, *, removing: bool = False) -> Iterator:
    """The document with each of its nodes in turn (the whole of it too) replaced by each odd
    value, and with `removing`, after those of a node, the document without that node."""
    for path in list(paths(document)):
        for value in odd_values:
            yield replaced(document, path, value)
        if removing and path:
            yield removed(document, path)


# --- the one assertion ------------------------------------------------------------------------


def parse_or_reject(parse: Callable, record, check: Check | None = None):
    """parse(record) gives a NormalizedAlert (that passes the format's own `check`, if any) or
    raises RecordError saying why; anything else fails the test. The alert, or None."""
    try:
        alert = parse(record)
    except RecordError as exc:
        assert str(exc)
        return None
    assert isinstance(alert, NormalizedAlert)
    if check is not None:
        check(record, alert)
    return alert


def every_field_replaced(
    parse: Callable,
    document,
    odd_values: Sequence,
    *,
    removing: bool = False,
    check: Check | None = None,
) -> None:
    """parse_or_reject on each of the document's variants (see `variants`)."""
    for variant in variants(document, odd_values, removing=removing):
        parse_or_reject(parse, variant, check)


def in_utc(moment) -> bool:
    """An alert's time is either unknown or in UTC."""
    return moment is None or moment.utcoffset().total_seconds() == 0


# --- random JSON ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """What random JSON is made of: a format's field names and the values it reads."""

    keys: list
    leaves: list


def vocabulary(keys: Iterable[str], odd_values: Sequence, values: Iterable) -> Vocabulary:
    """The format's field names (and "", "x", "."); its odd values, NaN, infinity, a right-to-left
    override and values of the shapes it reads."""
    return Vocabulary(
        keys=[*keys, "", "x", "."],
        leaves=[*odd_values, float("nan"), float("inf"), "é\u202e", *values],
    )


def random_json(rng: random.Random, words: Vocabulary, depth: int = 0):
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return copy.deepcopy(rng.choice(words.leaves))
    if roll < 0.65:
        return [random_json(rng, words, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice(words.keys): random_json(rng, words, depth + 1) for _ in range(rng.randint(0, 6))
    }


def mutated(rng: random.Random, document, words: Vocabulary):
    """A sample with a few of its nodes replaced by random JSON."""
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(paths(document)))
        document = replaced(document, path, random_json(rng, words, depth=2))
    return document


def arbitrary_json(
    parse: Callable,
    words: Vocabulary,
    samples: Sequence[Sequence],
    *,
    seed: int,
    rounds: int,
    wrapped: Callable[[random.Random, Any], Iterable],
) -> None:
    """`rounds` times: parse_or_reject on random JSON, on what `wrapped` makes of it (the
    record inside the format's envelope, say), and on the records of one of the samples (each
    a list of records), each mutated."""
    rng = random.Random(seed)
    for _ in range(rounds):
        record = random_json(rng, words)
        parse_or_reject(parse, record)
        for other in wrapped(rng, record):
            parse_or_reject(parse, other)
        for document in rng.choice(samples):
            parse_or_reject(parse, mutated(rng, document, words))
