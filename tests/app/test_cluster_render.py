"""Rendering on a local Ray instance (2 CPUs, the bundled demo model) is the local render, byte for byte; a worker
killed mid-render is replaced; a model a worker cannot load is one sentence; a cancel stops every task."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from latent_studio.app.cluster_render import RayFrames, ray_address
from latent_studio.app.export import ExportOptions, export_project
from latent_studio.core.cancel import CancelToken
from latent_studio.core.errors import Cancelled, ModelError, UserError
from latent_studio.media.export import FORMATS

ray = pytest.importorskip("ray", reason="the cluster extra (Ray) is not installed")

STEPS = 2
LAST = 9  # ten frames
EXAMPLE = "head_turn.lsproj"


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def demo():
    from latent_studio.core.project_file import load_project
    from latent_studio.core.resources import bundled_models, resources_dir
    from latent_studio.engine.models import load_model

    root = resources_dir()
    if root is None or not (root / "examples" / EXAMPLE).is_file() or "toy-heads" not in bundled_models():
        pytest.skip("the demo model and its examples are not bundled")
    return load_project(root / "examples" / EXAMPLE), load_model("toy-heads", device="cpu")


@pytest.fixture(scope="module")
def local_render(demo, tmp_path_factory):
    """The local render's files with this process's torch threads (``None``) or another count: a CPU's sums depend
    on it, so a worker with other threads may land a grey level away. For the same reason the source-attention
    trajectories this process kept are dropped first: one recorded at the other thread count would be replayed
    (a real process never changes its threads; that a kept trajectory gives the same bytes as a fresh one is
    tests/engine/test_source_attention.py's)."""
    import torch

    project, model = demo
    made = {}

    def render(threads: int | None = None) -> dict[str, bytes]:
        if threads not in made:
            from latent_studio.engine.source_attention import TRAJECTORIES

            TRAJECTORIES.clear()
            before = torch.get_num_threads()
            torch.set_num_threads(threads or before)
            try:
                out = tmp_path_factory.mktemp("local") / "frames"
                export_project(project, model, out, _options())
            finally:
                torch.set_num_threads(before)
            made[threads] = _read(out)
        return made[threads]

    return render


def _options() -> ExportOptions:
    return ExportOptions(FORMATS["png"], last_frame=LAST, steps=STEPS, batch_size=2)


def _read(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _free_cpus_come_back(total: float = 2.0, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ray.available_resources().get("CPU", 0) >= total:
            return True
        time.sleep(0.2)
    return False


def test_a_cluster_render_is_the_local_render_byte_for_byte(local_ray, demo, local_render, tmp_path):
    project, model = demo
    out = tmp_path / "frames"
    source = RayFrames(chunk=2, workers=2, threads=1)
    seen = []
    export_project(project, model, out, _options(), source=source, progress=seen.append)
    assert _read(out) == local_render(1)  # every PNG and the sidecar (frames.json)
    assert len({pid for _, pid in source.seen}) == 2  # both workers rendered, and the chunks came home in order
    assert [p.done for p in seen] == list(range(1, LAST + 2)) and seen[-1].total == LAST + 1
    assert [f["frame"] for f in json.loads(_read(out)["frames.json"])["frames"]] == list(range(LAST + 1))


def test_by_default_a_cpu_worker_uses_this_processs_threads_and_matches_its_render(local_ray, demo, local_render,
                                                                                  tmp_path):
    import torch

    project, model = demo
    out = tmp_path / "frames"
    source = RayFrames(chunk=4)
    export_project(project, model, out, _options(), source=source)
    assert _read(out) == local_render()
    assert len(source.actors) == 2 // torch.get_num_threads()  # workers of this process's threads fill the 2 CPUs


def test_render_cluster_on_the_command_line(local_ray, demo, local_render, tmp_path, capsys):
    from latent_studio.cli import main
    from latent_studio.core.resources import resources_dir

    out = tmp_path / "frames"
    code = main(["render", str(resources_dir() / "examples" / EXAMPLE), "-o", str(out), "--range", f"0-{LAST}",
                 "--steps", str(STEPS), "--batch", "2", "--device", "cpu", "--cluster", "ray", "--chunk", "4",
                 "--workers", "2", "--worker-threads", "1"])
    assert code == 0, capsys.readouterr().err
    assert _read(out) == local_render(1)


def test_a_worker_killed_mid_render_is_replaced_and_the_bytes_are_the_same(local_ray, demo, local_render, tmp_path):
    project, model = demo
    out = tmp_path / "frames"
    source = RayFrames(chunk=2, workers=2, threads=1)
    killed = []

    def kill_one(progress) -> None:
        if not killed:
            pid = source.started[1][1]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    export_project(project, model, out, _options(), source=source, progress=kill_one)
    assert _read(out) == local_render(1)
    pids = {pid for _, pid in source.seen}
    assert killed and len(pids - set(killed) - {pid for _, pid in source.started}) >= 1  # a restarted worker delivered


def test_a_model_a_worker_cannot_find_is_one_sentence(local_ray, demo, tmp_path):
    project, model = demo
    missing = tmp_path / "only-on-my-laptop"
    elsewhere = replace(model, source=replace(model.source, spec=str(missing), folder=missing, kind="folder"))
    out = tmp_path / "frames"
    with pytest.raises(ModelError) as caught:
        export_project(project, elsewhere, out, _options(), source=RayFrames(workers=1, threads=1))
    message = str(caught.value)
    assert "Ray worker" in message and str(missing) in message and "\n" not in message
    assert message.count(". ") == 0 and message.endswith(".")
    assert not out.exists() and _free_cpus_come_back()


def test_a_cancel_stops_every_task(local_ray, demo, tmp_path):
    project, model = demo
    out = tmp_path / "frames"
    source = RayFrames(chunk=2, workers=2, threads=1)
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        export_project(project, model, out, _options(), source=source, cancel=cancel,
                       progress=lambda p: cancel.cancel())
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing half-written left behind
    for actor in source.actors:  # every worker is gone, with whatever it was running
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(actor.prepare.remote(), timeout=30)
    assert _free_cpus_come_back()


def test_a_chunk_that_would_split_a_batch_or_workers_that_cannot_fit_are_one_sentence(local_ray, demo, tmp_path):
    project, model = demo
    with pytest.raises(UserError, match="not a multiple of the batch"):
        export_project(project, model, tmp_path / "a", _options(), source=RayFrames(chunk=3))
    with pytest.raises(UserError, match="need 6 CPUs but the cluster has 2"):
        export_project(project, model, tmp_path / "b", _options(), source=RayFrames(workers=3, threads=2))
    assert not list(tmp_path.iterdir())


def test_cluster_addresses_are_checked_before_anything_starts():
    assert ray_address("ray") is None
    assert ray_address("auto") == "auto"
    assert ray_address("ray://head:10001") == "ray://head:10001"
    assert ray_address("10.0.0.5:6379") == "10.0.0.5:6379"
    with pytest.raises(UserError, match="not understood"):
        ray_address("slurm")


def test_workers_load_the_model_in_this_machines_precision(demo):
    """A worker left to choose would pick its own CPU's default (bf16 only where the CPU has bf16 instructions), and
    its frames would then not be this machine's."""
    from latent_studio.app.cluster_render import model_want
    from latent_studio.engine.models import load_model

    _, model = demo
    assert (model_want(model).dtype, model_want(model).decode_dtype) == ("float32", None)
    decoding_in_bf16 = load_model("toy-heads", device="cpu", dtype="float32", decode_dtype="bf16")
    assert (model_want(decoding_in_bf16).dtype, model_want(decoding_in_bf16).decode_dtype) == ("float32", "bfloat16")
    assert model_want(load_model("toy-heads", device="cpu", dtype="bf16")).dtype == "bfloat16"
    asked = model_want(decoding_in_bf16, dtype="bf16")  # asked for: passed on as asked
    assert (asked.dtype, asked.decode_dtype) == ("bf16", None)
