"""The command-line parser every command uses: a bad flag is one line, like every other bad input."""

from __future__ import annotations

import argparse
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse, with its error printed as one `error: ` line and exit 2 (not the usage text)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")
