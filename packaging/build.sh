#!/usr/bin/env bash
# Build the one-folder desktop bundle from a checkout, then check it: size, --self-test, start-up time.
#
#   bash packaging/build.sh            # uses the current python (with latent-studio[gui] and pyinstaller installed)
#   PYTHON=/path/to/python DIST=/some/dist WORK=/some/work bash packaging/build.sh
#
# Output: $DIST/latent-studio/ (default dist/latent-studio/; run dist/latent-studio/latent-studio).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
DIST="${DIST:-dist}"
WORK="${WORK:-build/pyinstaller}"

"$PYTHON" -c "import PyInstaller, PySide6, qasync, latent_studio" 2>/dev/null || {
    echo "build.sh: install the app and the builder first: $PYTHON -m pip install '.[gui]' pyinstaller" >&2
    exit 2
}
started=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$DIST" --workpath "$WORK" \
    packaging/latent_studio.spec
bundle="$DIST/latent-studio"
echo "built $bundle in $(( $(date +%s) - started )) s"
echo "bundle size: $(du -sh "$bundle" | cut -f1) ($(find "$bundle" -type f | wc -l) files)"

export QT_QPA_PLATFORM=offscreen
check_home="$(mktemp -d)"  # the checks' logs, autosaves and preferences stay out of the user's folders
export LATENT_STUDIO_DATA="$check_home/data" XDG_CONFIG_HOME="$check_home/config"
export HF_HUB_OFFLINE=1
"$bundle/latent-studio" --self-test
t0=$(date +%s.%N)
"$bundle/latent-studio" gui --quit-after-first-frame
echo "start-up to first frame, whole process: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
rm -rf "$check_home"
