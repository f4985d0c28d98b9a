"""One small exception hierarchy.

Every error a user can cause (bad input, missing files, unknown names) is a :class:`BenchError`.
The command line prints its message, and its hint when there is one, and exits with
``exit_code``; it never shows a traceback for these.
"""

from __future__ import annotations


class BenchError(Exception):
    """Base of every error ``bench`` raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong: the thing, what was expected and what was found.
    hint : str, optional
        What to do about it (a command to run, a file to place).
    """

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(BenchError):
    """An option or configuration value is invalid."""


class UnknownNameError(ConfigError):
    """A registry name (embedder, dataset, preset, ...) does not exist."""

    def __init__(self, kind: str, name: str, choices: list[str] | tuple[str, ...], *,
                 hint: str | None = None):
        listed = ", ".join(sorted(choices)) if choices else "(none registered)"
        super().__init__(f"unknown {kind} {name!r}; known {kind}s: {listed}", hint=hint)
        self.kind, self.name, self.choices = kind, name, tuple(choices)


class DatasetError(BenchError):
    """A dataset is missing, incomplete or malformed."""


class AudioError(DatasetError):
    """An audio file cannot be read or is not usable.

    Parameters
    ----------
    reason : str, optional
        Why, without the file's name (for lists that name the file already); default: the
        whole message.
    """

    def __init__(self, message: str, *, hint: str | None = None, reason: str | None = None):
        super().__init__(message, hint=hint)
        self.reason = message if reason is None else reason


class DownloadError(BenchError):
    """A download failed or produced a file that does not match its checksum."""


class WeightsError(BenchError):
    """Model weights are missing, damaged or do not fit the network."""


class EmbedderError(BenchError):
    """An embedder (a user's class or a HEAR-API package) does not keep its contract: what it
    declares or what it returns is not what the interface promises."""


class CacheError(BenchError):
    """The embedding store is damaged or cannot be written."""


class ProtocolError(BenchError):
    """The evaluation protocol cannot be carried out on the given data."""


class ResultsError(BenchError):
    """A results file is missing, malformed or of an unknown schema version."""


class TrackingError(BenchError):
    """Experiment tracking (MLflow) failed."""
