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


class DamagedRecordError(ResultsError):
    """A file bench wrote and reads back (a run's record, a finished fold's record, a study's
    state, a store index) is damaged (cut short, emptied, not JSON) or foreign (another
    schema). ``path`` is the file."""

    def __init__(self, message: str, *, path: object, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.path = path


class TrackingError(BenchError):
    """Experiment tracking (MLflow) failed."""


class ClusterError(BenchError):
    """The Dask cluster of ``--executor`` cannot start: its batch system is missing, its
    workers never arrive, or its scheduler does not answer."""


class StorageError(BenchError):
    """A file or folder of bench's own (results, data, store, weights) cannot be written or read:
    a read-only or full disk, a missing permission."""


#: errno -> (what it means, what to do); the remedy names the option that moves the folder
_OS_CAUSES = {
    "EROFS": ("the file system is read-only", "choose a writable folder with {option}"),
    "EACCES": ("permission denied", "choose a folder you may write to with {option}"),
    "EPERM": ("operation not permitted", "choose a folder you may write to with {option}"),
    "ENOSPC": ("the disk is full", "free some space there or choose another folder with "
                                   "{option}"),
    "EDQUOT": ("the disk quota is used up", "free some space there or choose another folder "
                                            "with {option}"),
    "EFBIG": ("the file is larger than this process or file system allows (errno 27, e.g. a "
              "ulimit -f)", "raise the limit, free space, or choose another folder with {option}"),
}


def storage_error(exc: OSError, path: object, *, doing: str, option: str,
                  resumable: bool = True) -> StorageError:
    """One-line :class:`StorageError` for an ``OSError`` met while working on bench's own files.

    Parameters
    ----------
    exc : OSError
        What the operating system said.
    path : path-like
        The file or folder bench was working on (``exc.filename`` wins when it names one).
    doing : str
        What bench was doing, e.g. ``"write the results file"``.
    option : str
        The option (or environment variable) that chooses another folder, e.g. ``"--out"``.
    resumable : bool
        Say that finished work is kept and the same command resumes.
    """
    import errno as errno_mod

    name = errno_mod.errorcode.get(exc.errno or 0, "")
    cause, remedy = _OS_CAUSES.get(name, (exc.strerror or str(exc),
                                          "check the folder, or choose another with {option}"))
    where = exc.filename if exc.filename else path
    hint = remedy.format(option=option) + (
        ", then run the same command again: finished work is kept" if resumable else "")
    err = StorageError(f"cannot {doing} {where}: {cause}", hint=hint)
    err.errno = exc.errno  # type: ignore[attr-defined]
    return err
