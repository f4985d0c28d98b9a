"""Reading back the JSON records bench wrote: one reader, so that a damaged or foreign file is
always one typed error naming the file, and setting bench's own intermediate state aside.

Every writer goes through an atomic rename (:mod:`bench.io.fileio`), so a record is normally
whole or absent. What is left after a crash on a file system without ordered writes, a full
disk on a network store, or a hand edit is not: a file cut short, emptied to 0 bytes, ``{}``,
or another version's schema. Such a file becomes :class:`~bench.errors.DamagedRecordError`.
What the caller does with it depends on whose file it is: bench's own intermediate state (a
finished fold's record, a memo, an index) is set aside with :func:`set_aside` and recomputed;
a final ``results.json`` is reported and never touched.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, TypeVar

from bench.errors import DamagedRecordError, ResultsError
from bench.util.jsonrecord import JsonRecord

R = TypeVar("R", bound=JsonRecord)

#: suffix of a damaged file moved out of the way: ``<name>.damaged-<unix time>``
DAMAGED_SUFFIX = ".damaged-"


def read_json(path: Path, what: str, expect: type = dict) -> Any:
    """The JSON value in ``path``, which must be of type ``expect`` (an object by default).

    Parameters
    ----------
    path : Path
        The file.
    what : str
        What the file is, for the message (``"a finished fold's record"``).
    expect : type
        The type of the top-level value.

    Raises
    ------
    DamagedRecordError
        When the file is empty, not UTF-8, not JSON, or holds another type of value.
    OSError
        When it cannot be read at all (missing, no permission): that is no damage.
    """
    raw = Path(path).read_bytes()
    if not raw.strip():
        raise _damaged(path, what, f"it is empty ({len(raw)} bytes)")
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _damaged(path, what, f"it is not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        cut = " (cut short?)" if exc.pos >= len(raw.rstrip()) - 1 else ""
        raise _damaged(path, what, f"it is not JSON: {exc.msg} at line {exc.lineno} column "
                                   f"{exc.colno}{cut}") from exc
    if not isinstance(value, expect):
        raise _damaged(path, what, f"expected a JSON {_json_name(expect)}, found a "
                                   f"{_json_name(type(value))}")
    return value


def read_record(path: Path, cls: type[R], what: str) -> R:
    """A :class:`~bench.util.jsonrecord.JsonRecord` read from ``path``.

    Raises
    ------
    DamagedRecordError
        As :func:`read_json`, and when the object lacks a field of ``cls`` or has one of the
        wrong shape.
    """
    return record_of(read_json(path, what), cls, path, what)


def record_of(data: Any, cls: type[R], path: Path, what: str) -> R:
    """``cls.from_dict(data)`` for a value read from ``path``; a missing or malformed field
    is a :class:`~bench.errors.DamagedRecordError` naming the file."""
    try:
        return cls.from_dict(data, str(path))
    except DamagedRecordError:
        raise
    except ResultsError as exc:
        err = _damaged(path, what, exc.message.removeprefix(f"{path}: "))
        err.hint = exc.hint
        raise err from exc
    except (TypeError, ValueError, AttributeError) as exc:  # a field of the wrong type
        raise _damaged(path, what, f"{type(exc).__name__}: {exc}") from exc


def set_aside(path: Path) -> Path:
    """Move a damaged file of bench's own out of the way, to ``<name>.damaged-<time>`` beside
    it (kept for a look, never read again); return the new path."""
    path = Path(path)
    target = path.with_name(f"{path.name}{DAMAGED_SUFFIX}{int(time.time())}")
    n = 1
    while target.exists():  # two damaged copies within a second
        target = path.with_name(f"{path.name}{DAMAGED_SUFFIX}{int(time.time())}-{n}")
        n += 1
    os.replace(path, target)
    return target


def _damaged(path: Path, what: str, why: str) -> DamagedRecordError:
    return DamagedRecordError(f"{path} ({what}) is damaged or not bench's: {why}", path=path)


def _json_name(t: type) -> str:
    return {dict: "object", list: "array", str: "string", int: "number", float: "number",
            bool: "boolean", type(None): "null"}.get(t, t.__name__)
