"""Rendering a project's frames on a Ray cluster: one more frame source for ``app.export.export_project``.

The frame indices are cut into chunks; each chunk is one task on a Ray actor
that loads the model once (by its spec: a folder on shared storage, a bundled
name or a Hugging Face id), checks its content hash against the caller's and
calls ``engine.render.render_frames``. Finished chunks come home and are
yielded in index order, so the writer, the sidecar, paste-back and the disk
check are the local render's own code. A worker lost mid-chunk is restarted
and its chunk retried by Ray; a cancel kills every actor, which stops its
running task and fails its queued ones (Ray cannot interrupt a running task of
a plain actor any other way).

Ray is the optional ``cluster`` extra and is imported only here, inside the
functions that need it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from latent_studio.core.cancel import CancelToken, check
from latent_studio.core.errors import ModelError, UserError
from latent_studio.core.project import Project
from latent_studio.engine.devices import dtype_name
from latent_studio.engine.render import Frame, RenderProgress

INSTALL_HINT = 'Rendering on a Ray cluster needs Ray; install it with pip install "latent-studio[cluster]".'
RETRIES = 2  # restarts of a lost worker, and retries of the chunk it held
WAIT_S = 0.2  # how often a wait for a chunk looks at the cancel token
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d+$")


def ray_available() -> bool:
    """Whether the ``cluster`` extra is installed (without importing Ray, which is slow)."""
    return importlib.util.find_spec("ray") is not None


def require_ray() -> None:
    """One sentence, before anything loads, when the ``cluster`` extra is missing."""
    if not ray_available():
        raise UserError(INSTALL_HINT)


def check_chunk(chunk: int | None, batch_size: int) -> int:
    """Frames per task: a multiple of the batch, so that frames decode in the batches a local render uses (on a
    CPU a frame decoded in another batch may land a grey level away)."""
    size = chunk or max(1, batch_size)
    if size < 1 or size % batch_size:
        raise UserError(f"A chunk of {size} frames is not a multiple of the batch of {batch_size} frames; choose one "
                        "that is, so that frames decode in the batches a local render uses.")
    return size


def ray_address(text: str) -> str | None:
    """What ``--cluster`` means to ``ray.init``: ``ray`` (None: the cluster this machine runs, else a new local one),
    ``auto`` (an existing cluster only), ``ray://HOST:PORT`` (Ray Client) or ``HOST:PORT`` (a head node's GCS)."""
    text = text.strip()
    if text == "ray":
        return None
    if text == "auto" or text.startswith("ray://") and len(text) > len("ray://") or _HOST_PORT.match(text):
        return text
    raise UserError(f"Cluster '{text}' is not understood; give ray (this machine's cluster, or a new local one), "
                    "auto, ray://HOST:10001 or HOST:6379.")


@dataclass(frozen=True)
class ModelWant:
    """The model a worker must load: how to find it there, and the content hash it must have."""

    spec: str  # a folder's absolute path, a bundled name or a Hugging Face id
    content_hash: str
    device: str | None = None  # None: the worker's best (its GPU, else its CPU)
    dtype: str | None = None
    allow_pickle: bool = False
    threads: int = 1  # torch threads on a CPU: a CPU's sums depend on them, so the caller's count gives its bytes
    decode_dtype: str | None = None  # decoding under autocast in this precision (engine.devices.Placement)


def model_want(model, device: str | None = None, dtype: str | None = None, allow_pickle: bool = False,
               threads: int | None = None) -> ModelWant:
    """What workers load for ``model``: a folder by its absolute path (it must be on shared storage), otherwise the
    name the user gave (bundled models and hub ids resolve on each worker). ``threads`` None: this process's torch
    threads, so that a CPU worker's frames are this machine's, byte for byte."""
    import torch

    source = model.source
    spec = str(source.folder) if source.kind in ("folder", "file") else source.spec
    decode_dtype = None
    if dtype is None:  # this machine's precision, not each worker's own default (a CPU's depends on its instructions)
        placement = model.placement
        dtype = dtype_name(placement.dtype)
        decode_dtype = None if placement.decode_dtype is None else dtype_name(placement.decode_dtype)
    return ModelWant(spec, model.content_hash, device, dtype, allow_pickle, threads or torch.get_num_threads(),
                     decode_dtype)


@dataclass(frozen=True)
class Chunk:
    """What one task returns: the frames, and which worker made them (for logs and tests)."""

    frames: list[Frame]
    host: str
    pid: int


class RenderWorker:
    """One Ray actor: loads the model on its first task (again after a restart) and renders chunks with it.

    User errors are returned, not raised, so they reach the caller as their own one-sentence exception instead
    of a remote traceback."""

    def __init__(self, want: ModelWant) -> None:
        self.want = want
        self.model = None

    def prepare(self) -> tuple[str, int] | UserError:
        """Load the model now, so a missing or different model stops the render before any chunk is sent."""
        try:
            self._model()
        except UserError as exc:
            return exc
        return socket.gethostname(), os.getpid()

    def render(self, project: Project, indices: list[int], steps: int, batch_size: int,
               bit_depth: int) -> Chunk | UserError:
        from latent_studio.engine.render import render_frames

        try:
            frames = list(render_frames(self._model(), project, indices, steps, batch_size=batch_size,
                                        bit_depth=bit_depth))
        except UserError as exc:
            return exc
        return Chunk(frames, socket.gethostname(), os.getpid())

    def _model(self):
        if self.model is None:
            from latent_studio.engine.models import load_model

            import torch

            want, host = self.want, socket.gethostname()
            torch.set_num_threads(want.threads)
            try:
                model = load_model(want.spec, device=want.device, dtype=want.dtype, allow_pickle=want.allow_pickle,
                                   decode_dtype=want.decode_dtype)
            except ModelError as exc:
                raise ModelError(f"The Ray worker on {host} cannot load the model ({str(exc).rstrip('.')}); put it "
                                 "where every worker can read it (a shared folder, a bundled name or a Hugging Face "
                                 "id) and render again.") from None
            if model.content_hash != want.content_hash:
                raise ModelError(f"The Ray worker on {host} loaded '{want.spec}' with content hash "
                                 f"{model.content_hash[:12]}, not {want.content_hash[:12]} as here; give every worker "
                                 "the same model files and render again.")
            self.model = model
        return self.model


@dataclass
class RayFrames:
    """A frame source with ``render_frames``'s signature that renders on a Ray cluster (see the module doc).

    ``chunk``: frames per task, a multiple of the batch size (default: the batch size); ``workers``: actors
    (default: one per GPU of the cluster, else one per ``threads`` free CPUs), never more than there are chunks."""

    address: str | None = None  # ray_address's meaning; ignored when this process is already connected
    chunk: int | None = None
    workers: int | None = None
    device: str | None = None
    dtype: str | None = None
    allow_pickle: bool = False
    threads: int | None = None  # torch threads per CPU worker (None: this process's, for this machine's bytes)
    seen: list[tuple[str, int]] = field(default_factory=list)  # (host, pid) of the worker that delivered each chunk
    actors: list[Any] = field(default_factory=list)  # the last render's actors (dead once it ends)
    started: list[tuple[str, int]] = field(default_factory=list)  # (host, pid) of each actor once it loaded the model
    ready_s: float = 0.0  # seconds from the call until every worker had loaded the model (the farm's start-up cost)

    def __call__(self, model, project: Project, frames, steps: int, *, cache=None, batch_size: int = 8,
                 bit_depth: int = 8, progress: Callable[[RenderProgress], None] | None = None,
                 cancel: CancelToken | None = None) -> Iterator[Frame]:
        """Yield the frames in the order given. ``cache`` is not read: every frame is decoded on the cluster."""
        size = check_chunk(self.chunk, batch_size)
        began = time.perf_counter()
        ray = connect(self.address)
        self.seen, self.started = [], []
        indices = list(frames)
        chunks = [indices[i:i + size] for i in range(0, len(indices), size)]
        want = model_want(model, self.device, self.dtype, self.allow_pickle, self.threads)
        self.actors = start_workers(ray, want, min(len(chunks), self.workers or default_workers(ray, want)))
        try:
            self.started = _wait_ready(ray, self.actors, cancel)
            self.ready_s = time.perf_counter() - began
            yield from self._stream(ray, project, chunks, steps, batch_size, bit_depth, progress, cancel)
        finally:
            stop_workers(ray, self.actors)

    def _stream(self, ray, project, chunks, steps, batch_size, bit_depth, progress, cancel) -> Iterator[Frame]:
        """Keep every actor busy with the next chunk; yield finished chunks in order (at most two per actor wait)."""
        shared = ray.put(project)
        idle = list(self.actors)
        running: dict[Any, tuple[int, Any]] = {}  # result ref -> (chunk number, actor)
        finished: dict[int, Chunk] = {}
        sent = delivered = done = decoded = 0
        total = sum(len(c) for c in chunks)
        while delivered < len(chunks):
            while idle and sent < len(chunks) and sent - delivered < 2 * len(self.actors):
                actor = idle.pop(0)
                ref = actor.render.remote(shared, chunks[sent], steps, batch_size, bit_depth)
                running[ref] = (sent, actor)
                sent += 1
            if delivered in finished:
                result = finished.pop(delivered)
                delivered += 1
                for frame in result.frames:
                    check(cancel)
                    yield frame
                    done += 1
                    decoded += not frame.cached
                    if progress:
                        progress(RenderProgress(done, total, decoded))
                continue
            ready, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_S)
            check(cancel)
            for ref in ready:
                number, actor = running.pop(ref)
                part = chunks[number]
                finished[number] = _result(ray, ref, f"rendering frames {part[0]}-{part[-1]}")
                self.seen.append((finished[number].host, finished[number].pid))
                idle.append(actor)


def _result(ray, ref, doing: str):
    """A finished task's value, or the one sentence that says why there is none."""
    try:
        result = ray.get(ref)
    except ray.exceptions.RayActorError as exc:
        raise UserError(f"A Ray worker was lost {RETRIES + 1} times while {doing} ({type(exc).__name__}); check the "
                        "cluster's nodes with `ray status` and render again.") from exc
    if isinstance(result, UserError):
        raise result
    return result


def _wait_ready(ray, actors: list, cancel: CancelToken | None) -> list[tuple[str, int]]:
    """Every worker has loaded the model and found the caller's hash (their hosts and pids), or the first one's
    error is raised."""
    pending = [actor.prepare.remote() for actor in actors]
    while ray.wait(pending, num_returns=len(pending), timeout=WAIT_S)[1]:
        check(cancel)
    return [_result(ray, ref, "loading the model") for ref in pending]


def default_workers(ray, want: ModelWant) -> int:
    """One worker per GPU of the cluster when the model may go there, else one per ``want.threads`` CPUs free now."""
    if _uses_gpu(ray, want):
        return max(1, int(ray.cluster_resources().get("GPU", 0)))
    return max(1, int(ray.available_resources().get("CPU", 1)) // want.threads)


def _uses_gpu(ray, want: ModelWant) -> bool:
    return (want.device is None or want.device.startswith("cuda")) and ray.cluster_resources().get("GPU", 0) >= 1


def start_workers(ray, want: ModelWant, count: int) -> list:
    """``count`` actors, each holding one GPU (or ``want.threads`` CPUs), restarted with their task retried when
    lost. Workers that cannot all fit in the cluster are refused, since they would wait forever."""
    gpu = _uses_gpu(ray, want)
    resources = {"num_gpus": 1} if gpu else {"num_cpus": want.threads}
    need, have = (count, ray.cluster_resources().get("GPU", 0)) if gpu else \
        (count * want.threads, ray.cluster_resources().get("CPU", 0))
    if need > have:
        raise UserError(f"{count} workers need {need} {'GPUs' if gpu else 'CPUs'} but the cluster has {have:g}; ask "
                        "for fewer workers" + ("." if gpu else f" or fewer threads than {want.threads} each (frames "
                                               "may then differ from this machine's by a grey level)."))
    remote = ray.remote(RenderWorker).options(max_restarts=RETRIES, max_task_retries=RETRIES, **resources)
    return [remote.remote(want) for _ in range(count)]


def stop_workers(ray, actors: list) -> None:
    """Kill every actor (a running task stops with its process); no restarts."""
    for actor in actors:
        ray.kill(actor, no_restart=True)


_connected: dict[str, Any] = {}  # the address this process connected to, once it has


def connect(address: str | None):
    """Ray, connected: an existing connection is reused (a test's, or an earlier render's); otherwise ``ray.init``
    at ``address``, keeping this process's SIGTERM handler (Ray replaces it) and Ray's logs quiet."""
    require_ray()
    import ray

    if ray.is_initialized():
        if "address" in _connected and _connected["address"] != address:
            ray.shutdown()
        else:
            return ray
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "a local Ray" if address is None else f"the Ray cluster at {address}"
        reason = " ".join(str(exc).split())[:200].rstrip(".")
        raise UserError(f"Could not start or reach {where} ({reason}); start one with `ray start --head` or check "
                        "the address.") from exc
    finally:
        if main and handler is not None:
            signal.signal(signal.SIGTERM, handler)
    _connected["address"] = address
    return ray
