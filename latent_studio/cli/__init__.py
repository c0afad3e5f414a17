"""Command line: ``latent-studio COMMAND`` (no command opens the desktop app); one module per group of commands.

User errors print one line and exit with status 2; a traceback appears only
with --verbose. torch and the engine are imported inside the commands, so
``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import traceback

from latent_studio import __version__
from latent_studio.cli import demo_commands, gui_command, model_commands, project_commands
from latent_studio.cli.common import Parser, make_parents
from latent_studio.core.errors import Cancelled, Terminated, UserError
from latent_studio.entry import EXIT_CANCELLED

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
LEFT_ON_DISK = ("no half-written file is left (one being written is removed); files finished before it, and any "
                "earlier version of it, are unchanged.")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UserError as exc:  # argparse's refusal: one line, like every other user error
        _report(argparse.Namespace(), f"error: {exc}")
        return EXIT_USER_ERROR
    if args.self_test:
        from latent_studio.cli.self_test import run_self_test

        return run_self_test()
    if not getattr(args, "command", None):
        args.run = gui_command.run  # no command: the desktop app
    return run_command(args, args.run)


def run_command(args: argparse.Namespace, run) -> int:
    """Run one command: user errors are one line (exit 2), signals 128+n, bugs 1 with the traceback behind --verbose."""
    try:
        with _signals_unwind(getattr(args, "command", None) not in (None, "gui")):  # Qt handles its own
            return run(args) or 0
    except UserError as exc:
        _report(args, f"error: {exc}")
        return EXIT_USER_ERROR
    except (Cancelled, KeyboardInterrupt):
        _report(args, f"cancelled; {LEFT_ON_DISK}")
        return EXIT_CANCELLED
    except Terminated as exc:
        _report(args, f"stopped by {signal.Signals(exc.signum).name}; {LEFT_ON_DISK}")
        return 128 + exc.signum
    except Exception as exc:  # a bug: say so, keep the traceback behind --verbose
        _report(args, f"internal error: {type(exc).__name__}: {exc}. This is a bug; rerun with --verbose and report it.")
        return EXIT_INTERNAL_ERROR


@contextlib.contextmanager
def _signals_unwind(enabled: bool = True):
    """SIGTERM and SIGHUP raise ``Terminated`` (as Ctrl+C raises KeyboardInterrupt), so writers clean up on the way out."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)

    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, handler) for s in wanted}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def _report(args: argparse.Namespace, message: str) -> None:
    if getattr(args, "verbose", False):
        traceback.print_exc()
    print(f"latent-studio: {' '.join(message.split())}", file=sys.stderr)  # one line, whatever a file name holds


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
