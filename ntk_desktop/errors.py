"""Exceptions shared by the library, the CLI and the GUI (no Qt here)."""
import tokenize
import zipfile
import zlib


class NTKInputError(ValueError):
    """Bad user input: a wrong value, shape, file or option.

    The message is one line naming what is wrong; the CLI prints it and exits with code 2,
    the GUI shows it in a message and stays usable.
    """


class MemoryBudgetError(NTKInputError):
    """A computation would need more memory than the configured budget allows."""


class Cancelled(Exception):
    """Raised inside a long computation when its cancel callback asked it to stop."""


#: what reading a corrupt, truncated or foreign file may raise (NumPy's header parser, zipfile,
#: zlib, the OS)
READ_ERRORS = (OSError, ValueError, EOFError, KeyError, IndexError, TypeError, NotImplementedError,
               OverflowError, MemoryError, RecursionError, SyntaxError, tokenize.TokenError,
               zipfile.BadZipFile, zlib.error)


def unreadable(what: str, path, exc: BaseException) -> NTKInputError:
    """The one-line error for a file that could not be read as a NumPy ``.npy``/``.npz`` file:
    a missing file, a folder, or a file that is no (or a corrupt) NumPy array file.  NumPy's own
    advice to load pickled data is never passed on."""
    if isinstance(exc, FileNotFoundError):
        return NTKInputError(f"{what} file not found: {path}")
    if isinstance(exc, IsADirectoryError):
        return NTKInputError(f"{what} path is a directory, not a file: {path}")
    if isinstance(exc, PermissionError):
        return NTKInputError(f"cannot read {what} file {path}: permission denied")
    return NTKInputError(f"cannot read {what} file {path}: it is not a NumPy array file (.npy/.npz), or it is "
                         "corrupt or truncated")
