"""Fast unchecked constructors for frozen, slotted dataclasses built on a hot path.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` by name and
then validates in ``__post_init__``; the executor builds a state and an audit record of 18 and
44 fields at every decision, where that costs several microseconds. ``unchecked_constructor``
makes the function that builds an instance from its values in field order by calling each
slot's descriptor directly, one statement per field (generated once per class, the way
``dataclasses`` generates ``__init__``), without ``__post_init__``. Only for values valid by
construction: anything from outside goes through the class's own constructor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def unchecked_constructor(cls: type[T]) -> Callable[[Sequence[Any]], T]:
    """``make(values)``: an instance of ``cls`` (a slotted dataclass) from its field values in
    field order, without validation; a wrong number of values raises ``ValueError``."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    setters = {f"set_{i}": cls.__dict__[name].__set__ for i, name in enumerate(names)}
    values = ", ".join(f"v{i}" for i in range(len(names)))
    body = "".join(f"    set_{i}(record, v{i})\n" for i in range(len(names)))
    source = (
        f"def make(values):\n    ({values},) = values\n    record = new(cls)\n{body}"
        "    return record\n"
    )
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls, **setters}
    exec(compile(source, f"<unchecked {cls.__name__}>", "exec"), namespace)
    make: Callable[[Sequence[Any]], T] = namespace["make"]
    make.__qualname__ = f"unchecked_constructor({cls.__name__})"
    return make
