"""Property-based: any command-line numbers parse into values the project accepts, or are one UserError."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from latent_studio.cli import build_parser
from latent_studio.core.errors import UserError
from latent_studio.core.project import Settings

FAST = settings(max_examples=80, deadline=None)

number_text = st.one_of(
    st.integers(-(2**80), 2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e9", "1e400", "0", "-0", "23.976", "0x10", "", " 5", "1_000", "٣"]),
    st.text(max_size=8),
)
size_text = st.one_of(st.tuples(number_text, number_text).map(lambda p: f"{p[0]}x{p[1]}"), st.text(max_size=10))
range_text = st.one_of(st.tuples(number_text, number_text).map(lambda p: f"{p[0]}-{p[1]}"), st.text(max_size=10))


def _parse(argv):
    try:
        return build_parser().parse_args(argv)
    except UserError as exc:  # the CLI prints it on one line, whatever the argument held
        assert str(exc).strip()
        return None


@FAST
@given(seed=number_text, duration=number_text, fps=number_text, size=size_text, steps=number_text)
def test_new_accepts_only_numbers_a_project_can_hold(seed, duration, fps, size, steps):
    args = _parse(["new", "p.lsproj", f"--seed={seed}", f"--duration={duration}", f"--fps={fps}", f"--size={size}",
                   f"--steps={steps}"])
    if args is None:
        return
    width, height = args.size
    settings_ = Settings(fps=args.fps, duration=args.duration, width=width, height=height, final_steps=args.steps)
    assert 0 <= args.seed[0] < 2**63 and settings_.frame_count <= 3600 * 60


@FAST
@given(frames=range_text, scale=number_text, batch=number_text, steps=number_text, first=number_text)
def test_render_accepts_only_sane_numbers(frames, scale, batch, steps, first):
    args = _parse(["render", "p.lsproj", "-o", "x.mp4", f"--range={frames}", f"--scale={scale}", f"--batch={batch}",
                   f"--steps={steps}", f"--first-number={first}"])
    if args is None:
        return
    first_frame, last_frame = args.frame_range
    assert 0 <= first_frame <= last_frame
    assert math.isfinite(args.scale) and 0 < args.scale <= 64
    assert 1 <= args.batch <= 256 and 1 <= args.steps <= 1000 and 0 <= args.first_number <= 10**9
