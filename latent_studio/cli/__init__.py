"""Command line: ``latent-studio COMMAND`` (no command opens the desktop app); one module per group of commands.

User errors print one line and exit with status 2; a traceback appears only
with --verbose. torch and the engine are imported inside the commands, so
``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from latent_studio import __version__
from latent_studio.cli import demo_commands, gui_command, model_commands, project_commands
from latent_studio.cli.common import Parser, make_parents
from latent_studio.core.errors import Cancelled, UserError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_CANCELLED = 130


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UserError as exc:  # argparse's refusal: one line, like every other user error
        print(f"latent-studio: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    if args.self_test:
        from latent_studio.cli.self_test import run_self_test

        return run_self_test()
    if not getattr(args, "command", None):
        args.run = gui_command.run  # no command: the desktop app
    try:
        return args.run(args) or 0
    except UserError as exc:
        _report(args, f"error: {exc}")
        return EXIT_USER_ERROR
    except (Cancelled, KeyboardInterrupt):
        _report(args, "cancelled; no output was written.")
        return EXIT_CANCELLED
    except Exception as exc:  # a bug: say so, keep the traceback behind --verbose
        _report(args, f"internal error: {type(exc).__name__}: {exc}. This is a bug; rerun with --verbose and report it.")
        return EXIT_INTERNAL_ERROR


def _report(args: argparse.Namespace, message: str) -> None:
    if getattr(args, "verbose", False):
        traceback.print_exc()
    print(f"latent-studio: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="latent-studio", description="Creative latent editing with diffusion models.")
    parser.add_argument("--version", action="version", version=f"latent-studio {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation end to end (model, render, MP4, PNG, Qt) without a screen; exit 0 if all pass")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parents = make_parents()
    gui_command.register(sub, parents)
    model_commands.register(sub, parents)
    project_commands.register(sub, parents)
    demo_commands.register(sub, parents)
    return parser
