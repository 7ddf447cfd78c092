"""The ``ntk`` command line.

Each sub-command lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``;
:data:`COMMANDS` lists them.  Bad input ends with one line on stderr and exit code 2, never a
traceback (``--debug`` shows one for internal errors).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from typing import Optional, Sequence

import numpy as np

from .. import __version__
from ..errors import Cancelled, NTKInputError

#: sub-command modules, in the order ``ntk --help`` lists them
COMMANDS = ["kernel", "train", "predict", "regress", "pca", "reproduce", "info"]


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump) and exit code 2."""

    def error(self, message):  # noqa: D401 - argparse API
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _command_in(argv: Sequence[str]) -> Optional[str]:
    """The sub-command named in argv (the first word that is not a global option), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The ``ntk`` parser; ``only``: import and add that sub-command alone (each module imports
    what its command needs — SciPy, Dask, the figures — so ``ntk kernel`` does not start with the
    imports of ``ntk regress``)."""
    parser = _Parser(prog="ntk", description="Neural Tangent Kernel laboratory: kernels, training, "
                     "infinite-width predictions and the paper's figures.")
    parser.add_argument("--version", action="version", version=f"ntk {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS if only is None else [only]:
        module = importlib.import_module(f".{name}", __name__)
        p = module.add_parser(sub)
        p.set_defaults(run_command=module.run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_in(words))
    args = parser.parse_args(words)
    if not getattr(args, "run_command", None):
        parser.print_help()
        return 2
    try:
        # no NumPy warning reaches the user: a non-finite result is refused with one line instead
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return int(args.run_command(args) or 0)
    except NTKInputError as exc:
        sys.stderr.write(f"ntk {args.command}: error: {exc}\n")
        return 2
    except OSError as exc:  # the system refused a file: missing, a folder, no permission, disk full
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"ntk {args.command}: error: {exc.strerror or exc}{where}\n")
        return 2
    except Cancelled:
        sys.stderr.write(f"ntk {args.command}: cancelled\n")
        return 130
    except KeyboardInterrupt:
        # an I/O task of Zarr's event loop thread may be abandoned mid-tile (its done-marker is
        # not written, so the store stays consistent): asyncio's "Task was destroyed" at exit is noise
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        sys.stderr.write(f"ntk {args.command}: interrupted\n")
        return 130
    except MemoryError:
        sys.stderr.write(f"ntk {args.command}: error: out of memory (lower the sizes or the memory budget)\n")
        return 2
    except Exception as exc:  # an internal error: one line unless --debug
        if args.debug:
            raise
        sys.stderr.write(f"ntk {args.command}: internal error: {type(exc).__name__}: {exc} "
                         "(run with --debug for the traceback)\n")
        return 1
