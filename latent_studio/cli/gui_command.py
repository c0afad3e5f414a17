"""`latent-studio` (no command) and `latent-studio gui [PROJECT]`: open the desktop app."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from latent_studio.cli.common import Parents
from latent_studio.core.errors import UserError


def register(sub, parents: Parents) -> None:
    gui = sub.add_parser("gui", parents=[parents.common], help="open the desktop app (the default with no command)")
    gui.add_argument("project", nargs="?", type=Path, help="a .lsproj project to open")
    gui.add_argument("--model", help="model folder, bundled model name or Hugging Face id (default: the last one used)")
    gui.add_argument("--quit-after-first-frame", action="store_true",
                     help="measure start-up: print the time to the first final-quality frame on the canvas and quit")
    gui.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    project = getattr(args, "project", None)
    if project is not None and not Path(project).is_file():
        raise UserError(f"Project {project} does not exist.")
    return launch(project, getattr(args, "model", None), getattr(args, "quit_after_first_frame", False))


def no_display_sentence(platform: str, environ) -> str | None:
    """On Linux without a display (an ssh session, a farm node) Qt aborts with exit 134: say it first, plainly."""
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return ("There is no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set). Run it in a "
            "desktop session, or use the command line: `latent-studio render PROJECT -o out.mp4` renders headless.")


def launch(project: Path | None, model: str | None, quit_after_first_frame: bool = False) -> int:
    sentence = no_display_sentence(sys.platform, os.environ)
    if sentence:
        raise UserError(sentence)
    try:
        from latent_studio.ui.app import run_gui
    except ImportError as exc:
        raise UserError(
            f"The desktop app needs PySide6 and qasync ({exc.name} is missing); install them with "
            "`pip install \"latent-studio[gui]\"`, or use the command line (`latent-studio --help`)."
        ) from None
    return run_gui(project, model, quit_after_first_frame)
