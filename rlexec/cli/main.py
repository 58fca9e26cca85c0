"""The ``rlexec`` command line: one sub-command module per concern, registered below.

Exit codes:

- 0: done; 1: a check failed (``rlexec replay episode`` found a difference);
- 2: a mistake the user can fix (bad config, bad argument, missing or outdated database, ...),
  printed as one line on stderr with any password masked - never a traceback;
- 130: interrupted (Ctrl-C / SIGINT); ``rlexec train`` stops after the current episode and
  exits 130 (SIGINT) or 143 (SIGTERM) once the final flush is done;
- 141: the reader of the output went away (``rlexec metrics | head -1``); nothing more is
  written and no traceback is shown, like any Unix tool killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from rlexec import __version__
from rlexec.cli.common import COMMON_OPTIONS, HelpFormatter
from rlexec.errors import RlexecError
from rlexec.redact import mask_passwords

Handler = Callable[[argparse.Namespace], int]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Version(argparse.Action):
    """``rlexec --version``: the package version and the schema revision it needs."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from rlexec.store.migrate import head_revision

        print(f"rlexec {__version__} (database schema {head_revision()})")
        parser.exit(0)


# One module per concern under rlexec/cli/; each has ``register(subparsers)`` that adds its
# commands (``rlexec.cli.common.command``) with ``set_defaults(handler=...)``. Add a new
# module's name here.
COMMAND_MODULES: tuple[str, ...] = (
    "db",
    "train",
    "evaluate",
    "compare",
    "report",
    "snapshot",
    "promotions",
    "episodes",
    "replay",
    "metrics",
    "export",
)


def _command_modules() -> list[ModuleType]:
    return [importlib.import_module(f"rlexec.cli.{name}") for name in COMMAND_MODULES]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rlexec",
        description="Learn when and how much to trade while working a parent order: train a "
        "Q-learning agent on market simulators, compare it with TWAP/VWAP, keep everything in SQL.",
        epilog="Every command also takes --config and --database-url after its name. Exit "
        "codes: 0 done, 1 a check failed, 2 a mistake (one line on stderr), 130 interrupted "
        "(143 on SIGTERM; train exits after its final flush), 141 output closed (e.g. piped to "
        "head).",
        parents=[COMMON_OPTIONS],
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except RlexecError as exc:
        print(f"rlexec: error: {mask_passwords(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("rlexec: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away: point stdout at /dev/null so that the interpreter's final
        # flush does not fail again, and stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
