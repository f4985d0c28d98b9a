"""A lazy name -> "module:Class" registry, shared by embedders and datasets.

Names map to import strings and keyword arguments; nothing is imported until a name is used, so
listing names (and ``bench --help``) never loads torch. Besides registered names, a registry
resolves a user's own class given as ``package.module:Class`` and classes announced by installed
packages through an entry-point group.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from bench.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class RegistryEntry:
    """One registered name: where its class lives and the keyword arguments it is built with."""

    name: str
    target: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


def import_target(target: str) -> Any:
    """Import ``"package.module:Attr"`` and return the attribute.

    Raises
    ------
    ConfigError
        When the string is not of that form, or the module or attribute cannot be imported.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"expected an import path of the form 'package.module:Class', found {target!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r} for {target!r}: {exc}",
                          hint="check that the package is installed in this environment") from exc
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from exc
    return obj


class Registry:
    """Names of one kind of thing (``"embedder"``, ``"dataset"``) and how to build them.

    Parameters
    ----------
    kind : str
        Used in messages ("unknown embedder 'x'").
    entry_point_group : str
        Entry-point group scanned for plugins (``bench.embedders``).
    declared : callable, optional
        Returns the entries of a table that cannot be read when the registry is made (the
        datasets' table reads the dataset files, which import the package that holds the
        registry); called on first use, its entries come before plugins.
    """

    def __init__(self, kind: str, entry_point_group: str,
                 declared: Callable[[], Iterable[RegistryEntry]] | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, RegistryEntry] = {}
        self._schemes: dict[str, RegistryEntry] = {}
        self._plugins_loaded = False
        self._declared = declared

    def _load_declared(self) -> None:
        if self._declared is not None:
            declared, self._declared = self._declared, None
            for e in declared():
                self._entries.setdefault(e.name, e)

    def register(self, name: str, target: str, summary: str = "", /, **kwargs: Any) -> None:
        """Register ``name`` to be built as ``target(**kwargs, **options)`` (the first three are
        positional, so that ``kwargs`` may hold a ``name`` of their own)."""
        self._entries[name] = RegistryEntry(name, target, dict(kwargs), summary)

    def register_scheme(self, prefix: str, target: str, summary: str = "") -> None:
        """Names ``prefix:REST`` build ``target(target=REST)`` (``hear:panns_hear``).

        A scheme takes precedence over the import-path reading of a name with a colon, so a
        module literally called ``prefix`` cannot be given as ``prefix:Class``.
        """
        self._schemes[prefix] = RegistryEntry(f"{prefix}:", target, {}, summary)

    def schemes(self) -> list[RegistryEntry]:
        """The registered schemes (their ``name`` is ``prefix:``)."""
        return list(self._schemes.values())

    def _load_plugins(self) -> None:
        self._load_declared()
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_point_group):
            if ep.name not in self._entries:
                self._entries[ep.name] = RegistryEntry(ep.name, ep.value, {}, "plugin")

    def names(self) -> list[str]:
        """All known names, registered ones first in registration order, then plugins."""
        self._load_plugins()
        return list(self._entries)

    def entries(self) -> list[RegistryEntry]:
        self._load_plugins()
        return list(self._entries.values())

    def entry(self, name: str) -> RegistryEntry:
        """The entry for ``name``; an import path ``pkg.mod:Class`` is an entry of its own."""
        self._load_declared()
        if name in self._entries:
            return self._entries[name]
        prefix, sep, rest = name.partition(":")
        if sep and prefix in self._schemes:
            scheme = self._schemes[prefix]
            return RegistryEntry(name, scheme.target, {"target": rest}, scheme.summary)
        if ":" in name and not name.startswith(("/", ".")):
            return RegistryEntry(name, name, {}, "import path")
        self._load_plugins()
        if name in self._entries:
            return self._entries[name]
        raise UnknownNameError(
            self.kind, name, self.names(),
            hint=f"or give your own {self.kind} as an import path 'package.module:Class'")

    def resolve(self, name: str) -> tuple[type, dict[str, Any]]:
        """Import the class for ``name`` and return it with its registered keyword arguments."""
        entry = self.entry(name)
        cls = import_target(entry.target)
        return cls, dict(entry.kwargs)
