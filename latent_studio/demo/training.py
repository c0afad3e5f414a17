"""The demo model's training recipe: a diffusers UNet2DModel learns toy heads by DDPM.

Batches are rendered on the fly (``data``), weights are averaged by EMA, and a
checkpoint (model, EMA, optimiser, step) is written atomically every few
hundred steps, so a run killed at any moment resumes from its last
checkpoint with exactly the data and state it would have had: a resumed run
ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import copy
import json
import math
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from latent_studio import __version__
from latent_studio.core.atomic import atomic_write_bytes
from latent_studio.core.cancel import CancelToken, check
from latent_studio.core.errors import UserError
from latent_studio.core.safetensors_header import read_metadata
from latent_studio.demo.data import Prefetcher
from latent_studio.engine.companions import start_from_weights
from latent_studio.engine.ddim import from_uint8

CHECKPOINT = "checkpoint.safetensors"


@dataclass(frozen=True)
class Recipe:
    resolution: int = 64
    block_out_channels: tuple[int, ...] = (32, 64, 128, 128)
    layers_per_block: int = 2
    attention_levels: tuple[int, ...] = (2,)
    norm_num_groups: int = 32
    train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    # What the UNet predicts. v-prediction (Salimans & Ho 2022) stays well-conditioned at
    # high noise, where epsilon prediction needs the scheduler's clip_sample to sample cleanly,
    # and that clamp breaks DDIM's invertibility (toy-heads v1 was epsilon + clip).
    prediction_type: str = "v_prediction"
    clip_sample: bool = False
    steps: int = 30000
    batch_size: int = 64
    learning_rate: float = 2e-4
    warmup_steps: int = 500
    ema_decay: float = 0.9995
    seed: int = 0
    supersample: int = 2
    checkpoint_every: int = 500
    # 0: fresh renders every step. N > 0: cycle through N batches rendered once
    # (the CPU recipe, where rendering would otherwise cost as much as training).
    pool_batches: int = 0

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        data = json.loads(text)
        data["block_out_channels"] = tuple(data["block_out_channels"])
        data["attention_levels"] = tuple(data["attention_levels"])
        data.setdefault("prediction_type", "epsilon")  # checkpoints from before the field were epsilon + clip
        data.setdefault("clip_sample", True)
        return cls(**data)

    def architecture(self) -> dict:
        """The fields that must match for a checkpoint to be resumable."""
        keys = ("resolution", "block_out_channels", "layers_per_block", "attention_levels", "norm_num_groups",
                "train_timesteps", "beta_schedule", "prediction_type", "batch_size", "seed", "pool_batches")
        return {k: getattr(self, k) for k in keys}


# The recipe for a machine without a GPU: a 2.7 M-parameter UNet that takes
# ~0.5 s per step of 32 on two CPU cores, trained on a fixed pool of 16,000
# renders. The default recipe is the GPU one (minutes on a data-centre GPU).
CPU_RECIPE = Recipe(
    block_out_channels=(16, 32, 64, 128),
    layers_per_block=1,
    attention_levels=(3,),
    norm_num_groups=16,
    steps=8000,
    batch_size=32,
    learning_rate=5e-4,
    warmup_steps=300,
    ema_decay=0.999,
    checkpoint_every=250,
    pool_batches=500,
)
RECIPES = {"gpu": Recipe(), "cpu": CPU_RECIPE}


@dataclass
class TrainState:
    step: int = 0
    seconds: float = 0.0
    recent_losses: list[float] = field(default_factory=list)
    initialised_from: str = ""  # the model a fine-tune started from ("" for random weights)


def build_unet(recipe: Recipe) -> UNet2DModel:
    levels = len(recipe.block_out_channels)
    down = tuple("AttnDownBlock2D" if i in recipe.attention_levels else "DownBlock2D" for i in range(levels))
    up = tuple("AttnUpBlock2D" if levels - 1 - i in recipe.attention_levels else "UpBlock2D" for i in range(levels))
    torch.manual_seed(recipe.seed)
    return UNet2DModel(
        sample_size=recipe.resolution,
        in_channels=3,
        out_channels=3,
        layers_per_block=recipe.layers_per_block,
        block_out_channels=recipe.block_out_channels,
        down_block_types=down,
        up_block_types=up,
        norm_num_groups=recipe.norm_num_groups,
    )


def build_scheduler(recipe: Recipe) -> DDPMScheduler:
    """The noise schedule and what the UNet predicts.

    With epsilon prediction, at the start of sampling (t near 1000) the cosine
    schedule leaves almost no signal, and x0 = (x - sqrt(1 - a) eps) / sqrt(a)
    multiplies the smallest error in eps by 1/sqrt(a) (thousands), so sampling
    needs clip_sample. v-prediction predicts sqrt(a) eps - sqrt(1 - a) x0, whose
    x0 = sqrt(a) x - sqrt(1 - a) v amplifies nothing: no clamp, exact inversion.
    """
    return DDPMScheduler(num_train_timesteps=recipe.train_timesteps, beta_schedule=recipe.beta_schedule,
                         prediction_type=recipe.prediction_type, clip_sample=recipe.clip_sample)


def training_target(recipe: Recipe, clean: torch.Tensor, noise: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """What the UNet learns to output for ``noisy = sqrt(a) clean + sqrt(1 - a) noise``."""
    if recipe.prediction_type == "epsilon":
        return noise
    if recipe.prediction_type == "v_prediction":
        return a.sqrt() * noise - (1 - a).sqrt() * clean
    if recipe.prediction_type == "sample":
        return clean
    raise UserError(f"Unknown prediction type {recipe.prediction_type!r}: use epsilon, v_prediction or sample.")


def learning_rate(recipe: Recipe, step: int) -> float:
    """Linear warm-up, then cosine decay to a tenth."""
    if step < recipe.warmup_steps:
        return recipe.learning_rate * (step + 1) / recipe.warmup_steps
    progress = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    return recipe.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


Progress = Callable[[int, int, float, float], None]  # step, total, loss, seconds


def train(
    recipe: Recipe,
    work_dir: Path,
    *,
    device: str | None = None,
    workers: int = 1,
    resume: bool = True,
    init_from: Path | None = None,
    stop_after: int | None = None,
    time_limit: float | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> tuple[UNet2DModel, TrainState]:
    """Train (or resume) and return the EMA model.

    ``stop_after`` (steps) or ``time_limit`` (seconds of this call) end the run early,
    with a checkpoint, so a run can be sized to a lease and resumed later.

    ``init_from`` (a model folder with the recipe's architecture) starts a fresh run from
    that model's weights instead of random ones: a fine-tune, e.g. to a new prediction type.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    torch_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    unet = build_unet(recipe).to(torch_device)
    ema = copy.deepcopy(unet).requires_grad_(False)
    optimiser = torch.optim.AdamW(unet.parameters(), lr=recipe.learning_rate, weight_decay=0.0)
    scheduler = build_scheduler(recipe)
    alphas = scheduler.alphas_cumprod.to(torch_device)
    state = TrainState()
    if resume and (work_dir / CHECKPOINT).is_file():
        state = load_checkpoint(work_dir / CHECKPOINT, recipe, unet, ema, optimiser)
    elif init_from is not None:
        load_initial_weights(Path(init_from), unet, ema)
        state.initialised_from = _describe_model(Path(init_from))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if torch_device.type == "cuda" else _no_autocast()
    end = recipe.steps if stop_after is None else min(recipe.steps, state.step + stop_after)
    deadline = None if time_limit is None else time.monotonic() + time_limit
    unet.train()
    pool: dict[int, np.ndarray] = {}
    with Prefetcher(recipe.seed, recipe.resolution, recipe.batch_size, recipe.supersample, workers,
                    cycle=recipe.pool_batches or None) as batches:
        while state.step < end:
            check(cancel)
            started = time.perf_counter()
            step = state.step
            clean = from_uint8(torch.from_numpy(_batch_images(batches, pool, recipe, step)).to(torch_device))
            generator = torch.Generator().manual_seed(recipe.seed * 1_000_003 + step)
            noise = torch.randn(clean.shape, generator=generator).to(torch_device)
            t = torch.randint(0, recipe.train_timesteps, (clean.shape[0],), generator=generator).to(torch_device)
            a = alphas[t].view(-1, 1, 1, 1)
            noisy = a.sqrt() * clean + (1 - a).sqrt() * noise
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(recipe, step)
            with autocast:
                loss = torch.nn.functional.mse_loss(unet(noisy, t).sample.float(), training_target(recipe, clean, noise, a))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            optimiser.step()
            _update_ema(ema, unet, min(recipe.ema_decay, (1 + step) / (10 + step)))
            state.step += 1
            state.seconds += time.perf_counter() - started
            state.recent_losses = (state.recent_losses + [loss.item()])[-100:]
            if progress:
                progress(state.step, recipe.steps, float(np.mean(state.recent_losses)), state.seconds)
            if deadline is not None and time.monotonic() >= deadline:
                end = state.step
            if state.step % recipe.checkpoint_every == 0 or state.step == end:
                save_checkpoint(work_dir / CHECKPOINT, recipe, unet, ema, optimiser, state)
    return ema.eval(), state


def _batch_images(batches: Prefetcher, pool: dict[int, np.ndarray], recipe: Recipe, step: int) -> np.ndarray:
    """Step's images: rendered fresh, or (with a pool) rendered once and kept."""
    if not recipe.pool_batches:
        return batches.get(step).images
    index = step % recipe.pool_batches
    if index not in pool:
        pool[index] = batches.get(index).images
    return pool[index]


class _no_autocast:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@torch.no_grad()
def _update_ema(ema: UNet2DModel, model: UNet2DModel, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.mul_(decay).add_(p.detach(), alpha=1 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


# ---------------------------------------------------------------- checkpoints


def _describe_model(folder: Path) -> str:
    """A short name for the card: the folder and, when it has a card, its training-steps line."""
    card = folder / "README.md"
    steps = ""
    if card.is_file():
        for line in card.read_text(errors="replace").splitlines():
            if line.startswith("| training |"):
                steps = ", " + line.split("|")[2].strip().split(" (")[0].split(",")[0]  # its own steps, not its ancestry
                break
    return f"{folder.name}{steps}"


def load_initial_weights(folder: Path, unet, ema) -> None:
    """Copy an exported model's UNet weights into a fresh run (both the model and its EMA)."""
    start_from_weights(folder / "unet", unet, name="toy-heads UNet")
    ema.load_state_dict(unet.state_dict())


def save_checkpoint(path: Path, recipe: Recipe, unet, ema, optimiser, state: TrainState) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in unet.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    opt_state = optimiser.state_dict()
    for index, entry in opt_state["state"].items():
        for name, value in entry.items():
            tensors[f"opt.{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous().reshape(-1) if name == "step" else value.detach().cpu().contiguous()
    metadata = {
        "recipe": recipe.as_json(),
        "param_groups": json.dumps(opt_state["param_groups"]),
        "state": json.dumps(asdict(state)),
    }
    atomic_write_bytes(path, st_save(tensors, metadata=metadata))


def load_checkpoint(path: Path, recipe: Recipe, unet, ema, optimiser) -> TrainState:
    data = path.read_bytes()
    try:
        tensors = st_load(data)
        metadata = read_metadata(data)
        saved = Recipe.from_json(metadata["recipe"])
    except (SafetensorError, KeyError, ValueError, TypeError) as exc:
        raise UserError(f"The training checkpoint {path} is damaged ({exc}); delete it to start over.") from exc
    if saved.architecture() != recipe.architecture():
        raise UserError(
            f"The checkpoint in {path.parent} was made with another recipe ({saved.architecture()}); "
            "use another --work folder, or --no-resume to start over there."
        )
    device = next(unet.parameters()).device
    unet.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    opt_state: dict = {"state": {}, "param_groups": json.loads(metadata["param_groups"])}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            value = value.reshape(()) if name == "step" else value.to(device)
            opt_state["state"].setdefault(int(index), {})[name] = value
    optimiser.load_state_dict(opt_state)
    return TrainState(**json.loads(metadata["state"]))



# ---------------------------------------------------------------- export


def export_model(ema: UNet2DModel, recipe: Recipe, state: TrainState, folder: Path, device_name: str) -> Path:
    """Write the EMA weights (fp16 safetensors) in the diffusers pipeline layout, with a model card.

    The folder is assembled beside the target and swapped in at the end, so a
    failed export never leaves a half-written model where the app looks for one.
    """
    folder = Path(folder)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "unet").mkdir(parents=True)
    (staging / "scheduler").mkdir()
    weights = {k: v.detach().cpu().to(torch.float16).contiguous() for k, v in ema.state_dict().items()}
    (staging / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(st_save(weights))
    ema.save_config(staging / "unet")
    build_scheduler(recipe).save_config(staging / "scheduler")
    (staging / "model_index.json").write_text(json.dumps({
        "_class_name": "DDPMPipeline", "_diffusers_version": _diffusers_version(),
        "scheduler": ["diffusers", "DDPMScheduler"], "unet": ["diffusers", "UNet2DModel"],
    }, indent=2) + "\n")
    (staging / "README.md").write_text(model_card(recipe, state, device_name, sum(p.numel() for p in ema.parameters())))
    backup = folder.with_name(folder.name + ".old")
    shutil.rmtree(backup, ignore_errors=True)
    if folder.exists():
        folder.rename(backup)
    staging.rename(folder)
    shutil.rmtree(backup, ignore_errors=True)
    return folder


def model_card(recipe: Recipe, state: TrainState, device_name: str, parameters: int) -> str:
    loss = f"{np.mean(state.recent_losses):.4f}" if state.recent_losses else "n/a"
    return f"""# toy-heads — Latent Studio's bundled demo model

A pixel-space DDPM (diffusers `UNet2DModel`) trained on procedural toy heads
rendered by `latent_studio.demo.heads`, so that Latent Studio works offline on
first launch. Sample it with deterministic DDIM. Every factor of the training
images is known, so embedding fidelity and how well a direction controls its
factor can be measured objectively.

## Recipe (written by `latent-studio train-demo`)

| | |
| --- | --- |
| resolution | {recipe.resolution} x {recipe.resolution} RGB |
| architecture | UNet2DModel, block_out_channels {list(recipe.block_out_channels)}, {recipe.layers_per_block} layers per block, attention at levels {list(recipe.attention_levels)}, {parameters / 1e6:.2f} M parameters |
| noise schedule | {recipe.train_timesteps} steps, {recipe.beta_schedule}, {recipe.prediction_type.replace("_", "-")} ({"clip_sample on" if recipe.clip_sample else "no clip_sample"}) |
| training | {state.step} of {recipe.steps} steps{f" (initialised from {state.initialised_from})" if state.initialised_from else ""}, batch {recipe.batch_size}, AdamW lr {recipe.learning_rate} (warm-up {recipe.warmup_steps}, cosine to 10%), grad clip 1.0, EMA {recipe.ema_decay} |
| data | {_data_description(recipe)}, supersampling {recipe.supersample}x, seed {recipe.seed}; held-out identities never seen |
| time and hardware | {state.seconds / 3600:.2f} h of training on {device_name} |
| final loss (mean of last 100 steps) | {loss} |
| software | latent-studio {__version__}, torch {torch.__version__}, Python {platform.python_version()} |

Weights are stored as float16 safetensors (EMA weights).
"""


def _data_description(recipe: Recipe) -> str:
    if recipe.pool_batches:
        return f"a fixed pool of {recipe.pool_batches * recipe.batch_size} renders, cycled"
    return "fresh renders every step"


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__


def device_description(device: str | None) -> str:
    if (device or "").startswith("cuda") or (device is None and torch.cuda.is_available()):
        return torch.cuda.get_device_name()
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
