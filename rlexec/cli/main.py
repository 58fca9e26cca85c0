"""The ``rlexec`` command line: one sub-command module per concern, registered below.

Every ``RlexecError`` (bad config, bad argument, unreachable database, ...) is printed as one
line on stderr with exit code 2; no traceback reaches the user for a mistake they can fix.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from rlexec.errors import RlexecError

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# One module per concern under rlexec/cli/; each has ``register(subparsers)`` that adds its
# commands with ``set_defaults(handler=...)``. Add a new module's name here.
COMMAND_MODULES: tuple[str, ...] = (
    "db",
    "train",
    "evaluate",
    "compare",
    "report",
    "snapshot",
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
    )
    parser.add_argument(
        "--config", help="config file (default: $RLEXEC_CONFIG or config/rl_execution.toml)"
    )
    parser.add_argument("--database-url", help="overrides rl_execution.database.url")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except RlexecError as exc:
        print(f"rlexec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlexec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
