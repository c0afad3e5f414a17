#!/usr/bin/env bash
# Render a project on a render farm without Ray (Deadline, Flamenco, a SLURM array, or a plain loop):
# each task renders one frame range with `latent-studio render --range A-B` into its own PNG folder,
# numbered by the frames' places on the timeline (--first-number A), and a last task gathers the
# folders into one sequence, frame_00000.png ... frame_NNNNN.png, ready for an editor or ffmpeg.
#
#   docs/farm_render.sh plan   PROJECT [CHUNK]   # one "A B" line per task (default 48 frames each)
#   docs/farm_render.sh chunk  PROJECT OUT A B   # one task: frames A-B into OUT/parts/A-B/
#   docs/farm_render.sh gather PROJECT OUT       # once every part is there: OUT/frames/
#   docs/farm_render.sh all    PROJECT OUT [CHUNK]   # all of it here, one task after the other
#
# RENDER_OPTS adds options to every render (e.g. RENDER_OPTS="--format png16 --device cuda").
# A part's folder appears only when its last frame is written, so a part that exists is complete; a task
# run again replaces its own part. Every machine needs the model: a bundled name, a Hugging Face id, or a
# folder at the same path (shared storage; give it with --model in RENDER_OPTS).
set -euo pipefail

frames() {  # the project's frame count
    python -c 'import sys; from latent_studio.core.project_file import load_project
print(load_project(sys.argv[1]).settings.frame_count)' "$1"
}

plan() {
    local count size=${2:-48} a
    count=$(frames "$1")
    for ((a = 0; a < count; a += size)); do
        echo "$a $((a + size - 1 < count - 1 ? a + size - 1 : count - 1))"
    done
}

chunk() {
    mkdir -p "$2/parts"
    # shellcheck disable=SC2086  # RENDER_OPTS is a list of options
    latent-studio render "$1" -o "$2/parts/$3-$4" --format png --range "$3-$4" --first-number "$3" --no-audio \
        ${RENDER_OPTS:-}
}

gather() {
    local part count done out="$2/frames"
    count=$(frames "$1")
    done=$(find "$2/parts" -path '*/parts/*/frame_*.png' 2>/dev/null | wc -l)
    if [ "$done" != "$count" ]; then
        echo "$done of $count frames are rendered; run the missing parts first (see plan)" >&2
        exit 1
    fi
    mkdir -p "$out"
    for part in "$2"/parts/*/; do
        part=${part%/}
        mv "$part"/frame_*.png "$out"/
        mv "$part/frames.json" "$out/frames_${part##*/}.json"  # each part's frame list, kept beside
        rmdir "$part"
    done
    rmdir "$2/parts"
    echo "$(find "$out" -name 'frame_*.png' | wc -l) frames in $out"
}

case "${1:-}" in
    plan) plan "$2" "${3:-48}" ;;
    chunk) chunk "$2" "$3" "$4" "$5" ;;
    gather) gather "$2" "$3" ;;
    all)
        plan "$2" "${4:-48}" | while read -r a b; do chunk "$2" "$3" "$a" "$b"; done
        gather "$2" "$3"
        ;;
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
