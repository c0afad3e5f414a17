"""The `latent-studio` command's entry point, free of heavy imports: Ctrl+C while Python is still loading numpy
and torch ends with one sentence (nothing has been written yet), not an import traceback."""

import sys

EXIT_CANCELLED = 130


def main() -> int:
    try:
        from latent_studio.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("latent-studio: cancelled while starting; nothing was written.\n")
        return EXIT_CANCELLED
    return run()
