"""Exceptions shared by the library, the CLI and the GUI (no Qt here)."""


class NTKInputError(ValueError):
    """Bad user input: a wrong value, shape, file or option.

    The message is one line naming what is wrong; the CLI prints it and exits with code 2,
    the GUI shows it in a message and stays usable.
    """


class MemoryBudgetError(NTKInputError):
    """A computation would need more memory than the configured budget allows."""


class Cancelled(Exception):
    """Raised inside a long computation when its cancel callback asked it to stop."""
