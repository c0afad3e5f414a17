"""The frozen program's entry point: the same `latent-studio` command line (no command opens the window)."""

import sys

from latent_studio.entry import main

if __name__ == "__main__":
    sys.exit(main())
