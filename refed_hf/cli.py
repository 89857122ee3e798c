"""`refed-hf`: one command with a subcommand per mode of the tool.

    refed-hf build --seed GAIR/lima --size 2000          # = python -m refed_hf.build ...
    refed-hf estimate --seed GAIR/lima --size 2000       # = python -m refed_hf.build --estimate ...
    refed-hf report ./refed-release/v1.0.0               # = python -m refed_hf.report ...
    refed-hf review ./refed-release/v1.0.0               # = python -m refed_hf.review ...

Each subcommand hands its arguments, untouched, to the module that owns them, so the flags of
`refed-hf build` and `python -m refed_hf.build` (a contract) are the same by construction.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from . import signals
from .arguments import Parser
from .exiting import exit_with


@dataclass(frozen=True)
class Command:
    summary: str
    run: Callable[[list[str]], int]


def _build(argv: list[str]) -> int:
    from .build import main  # noqa: PLC0415 - each mode imports only what it needs

    return main(argv, prog="refed-hf build")


def _estimate(argv: list[str]) -> int:
    from .build import main  # noqa: PLC0415

    return main(argv, prog="refed-hf estimate", estimate_mode=True)


def _report(argv: list[str]) -> int:
    from .report import main  # noqa: PLC0415

    return main(argv, prog="refed-hf report")


def _review(argv: list[str]) -> int:
    from .review.command import main  # noqa: PLC0415

    return main(argv, prog="refed-hf review")


COMMANDS: dict[str, Command] = {
    "build": Command("build a release (and publish it with --push); the flags of python -m refed_hf.build", _build),
    "estimate": Command(
        "build the first few references for real and project the calls, tokens, cost and time of the whole build",
        _estimate,
    ),
    "report": Command("the quality report of a release, on disk or on the Hub", _report),
    "review": Command("one self-contained HTML page to read a release's records, feedback and drops", _review),
}


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<10} {command.summary}" for name, command in COMMANDS.items())
    parser = Parser(
        prog="refed-hf",
        description="Build REFED (reference-level feedback enhanced data) and publish it, versioned, on the Hub.",
        epilog=f"commands:\n{listing}\n\n`refed-hf COMMAND --help` shows a command's flags.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parsed = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    return COMMANDS[parsed.command].run(parsed.args)


def entry() -> None:
    """The console script."""
    signals.install()  # before the modes import datasets and openai: a Ctrl-C then is one line, not a traceback
    exit_with(main())


if __name__ == "__main__":
    entry()
