"""Dataclasses stored as one JSON object each (the run and fold records of ``results.json``).

One rule set for every record, so that reading a file and writing it again gives the same keys,
values and order:

- a field without a default is required: :meth:`JsonRecord.from_dict` fails without it;
- a field with a default is optional: written unless ``None``;
- a field whose default is :data:`ABSENT` is written whenever it was set, ``None`` included,
  and left out when a file lacked it (a value the writer gives even when null, or a key added
  to the schema later);
- ``NESTED`` names the record class of a field's value, or of each item of a field annotated
  ``list[...]``;
- keys a class does not know are kept in ``extra`` and written after the known ones, so a file of
  the same schema with more keys loses nothing;
- a field with ``metadata={"json": False}`` (where a record was read from) is never written;
- neither method shares a list or dict with its argument, so changing one side never changes
  the other.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, ClassVar, Mapping, TypeVar

from bench.errors import ResultsError

R = TypeVar("R", bound="JsonRecord")

#: field metadata of attributes that are not part of the stored object
NOT_STORED = {"json": False}


class _Absent:
    """The value of a field a file did not have: never written, false, one instance."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ABSENT"

    def __copy__(self) -> "_Absent":
        return self

    def __deepcopy__(self, memo: dict) -> "_Absent":
        return self


ABSENT: Any = _Absent()


def _stored(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("json", True) and f.name != "extra"]


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _is_list(f: dataclasses.Field) -> bool:
    # annotations are strings here (``from __future__ import annotations``)
    return str(f.type).startswith("list")


class JsonRecord:
    """Base of a dataclass written as a JSON object; subclasses declare ``extra`` last
    (``extra: dict[str, Any] = field(default_factory=dict)``)."""

    NESTED: ClassVar[Mapping[str, type]] = {}
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: known fields in declaration order, then ``extra``."""
        out: dict[str, Any] = {}
        for f in _stored(type(self)):
            value = getattr(self, f.name)
            if value is ABSENT or (value is None and not _required(f) and f.default is not ABSENT):
                continue
            if isinstance(value, JsonRecord):
                value = value.to_dict()
            elif isinstance(value, list) and f.name in self.NESTED:
                value = [v.to_dict() if isinstance(v, JsonRecord) else v for v in value]
            else:
                value = copy.deepcopy(value)  # the caller may change the dict, not the record
            out[f.name] = value
        out.update(copy.deepcopy(self.extra))
        return out

    @classmethod
    def from_dict(cls: type[R], data: Any, source: str = "record") -> R:
        """The record of a JSON object; ``source`` names it in errors.

        Raises
        ------
        ResultsError
            When ``data`` is not an object or lacks a required field.
        """
        if not isinstance(data, Mapping):
            raise ResultsError(f"{source}: expected a JSON object, found {type(data).__name__}")
        known = {f.name: f for f in _stored(cls)}
        missing = [name for name, f in known.items() if _required(f) and name not in data]
        if missing:
            raise ResultsError(f"{source}: missing field(s) {missing}")
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, value in data.items():
            value = copy.deepcopy(value)  # the record does not share containers with ``data``
            if name not in known:
                extra[name] = value
                continue
            sub = cls.NESTED.get(name)
            if sub is not None and _is_list(known[name]):
                if not isinstance(value, list):
                    raise ResultsError(f"{source}: {name}: expected a list, found "
                                       f"{type(value).__name__}")
                value = [sub.from_dict(v, f"{source}: {name}[{i}]") for i, v in enumerate(value)]
            elif sub is not None and value is not None:
                value = sub.from_dict(value, f"{source}: {name}")
            kwargs[name] = value
        return cls(**kwargs, extra=extra)
