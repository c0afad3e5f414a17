"""The latent-diffusion family on tiny seeded models built in code: a VQ and a KL autoencoder around a UNet2DModel.

Both autoencoders halve each side (two levels), so the 16x16 latent UNet
makes 32x32 pictures. The autoencoders are untrained: the tests check what
the family promises (shapes, determinism, batching, inversion in latent
space, one sentence per broken folder), not picture quality.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from latent_studio.core.errors import ModelError
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.ddim import ddim_step, make_plan
from latent_studio.engine.decode import decode
from latent_studio.engine.embedding import embed
from latent_studio.engine.inversion import invert_model_space
from latent_studio.engine.models import load_model

AUTOENCODER_SETTINGS = dict(
    in_channels=3, out_channels=3, latent_channels=3, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
    down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"), up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
)


def make_autoencoder(kind: str, seed: int = 0):
    from diffusers import AutoencoderKL, VQModel

    torch.manual_seed(seed)
    if kind == "vqvae":
        return VQModel(num_vq_embeddings=64, sample_size=32, **AUTOENCODER_SETTINGS)
    return AutoencoderKL(sample_size=32, scaling_factor=0.5, **AUTOENCODER_SETTINGS)


def save_latent_model(folder: Path, kind: str, denoiser_dir: Path) -> Path:
    """The ldm-celebahq-256 layout: model_index.json, unet/, scheduler/ and vqvae/ (or vae/ for a KL autoencoder).

    The denoiser is the trained 16x16 pixel UNet of the shared fixtures, used as a UNet over a 3-channel latent
    (its decode inverts well; an untrained UNet's does not), and the autoencoder is untrained: 32x32 pictures.
    """
    autoencoder = make_autoencoder(kind)
    folder.mkdir(parents=True)
    autoencoder.save_pretrained(folder / kind)
    shutil.copytree(denoiser_dir / "unet", folder / "unet")
    shutil.copytree(denoiser_dir / "scheduler", folder / "scheduler")
    index = {"_class_name": "LDMPipeline", "unet": ["diffusers", "UNet2DModel"], "scheduler": ["diffusers", "DDPMScheduler"],
             kind: ["diffusers", type(autoencoder).__name__]}
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


@pytest.fixture(scope="module", params=["vqvae", "vae"])
def latent_model_dir(request, tmp_path_factory, trained_model_dir) -> Path:
    return save_latent_model(tmp_path_factory.mktemp("latent") / request.param, request.param, trained_model_dir)


@pytest.fixture(scope="module")
def latent_model(latent_model_dir):
    return load_model(str(latent_model_dir), device="cpu")


def test_it_loads_as_a_latent_family_with_its_autoencoders_scale(latent_model, latent_model_dir):
    assert latent_model.family.name == "latent UNet"
    assert latent_model.latent_shape == (3, 16, 16) and latent_model.image_size == (32, 32)
    assert len(latent_model.family.modules()) == 2 and latent_model.family.denoiser is latent_model.family.unet
    assert latent_model.family.autoencoder.scale == (1.0 if latent_model_dir.name == "vqvae" else 0.5)


def test_decode_is_deterministic_and_batching_changes_nothing(latent_model):
    latents = np.stack([noise_latent(seed, latent_model.latent_shape) for seed in (3, 4, 5)])
    batched = decode(latent_model, latents, 5, batch_size=3)
    singles = np.concatenate([decode(latent_model, latent[None], 5) for latent in latents])
    assert batched.shape == (3, 32, 32, 3) and batched.dtype == np.uint8
    assert np.abs(batched.astype(int) - singles.astype(int)).max() <= 1
    assert np.array_equal(batched, decode(latent_model, latents, 5, batch_size=3))


def test_inversion_round_trips_in_latent_space(latent_model):
    """A clean latent the model makes, inverted to x_T and decoded again, lands back on itself."""
    plan = make_plan(latent_model.scheduler_config, 20)
    x = torch.from_numpy(noise_latent(11, latent_model.latent_shape))[None]
    with torch.inference_mode():
        for k in range(plan.steps):
            x = ddim_step(latent_model.family, x, plan, k)
    x0 = x.clone()
    x = invert_model_space(latent_model, x0, plan)
    with torch.inference_mode():
        for k in range(plan.steps):
            x = ddim_step(latent_model.family, x, plan, k)
    assert (x - x0).abs().max().item() < 2e-3 * x0.abs().max().item()


def test_embedding_a_picture_encodes_then_inverts(latent_model):
    picture = decode(latent_model, noise_latent(9, latent_model.latent_shape), 10)[0]
    result = embed(latent_model, picture, 10)
    assert result.latent.shape == latent_model.latent_shape and result.reconstruction.shape == (32, 32, 3)
    assert np.isfinite(result.psnr)


def test_a_unet_that_does_not_fit_the_autoencoders_latent_is_one_sentence(tmp_path, untrained_model_dir):
    folder = save_latent_model(tmp_path / "mixed", "vae", untrained_model_dir)
    shutil.rmtree(folder / "vae")
    settings = dict(AUTOENCODER_SETTINGS, latent_channels=4)
    from diffusers import AutoencoderKL

    AutoencoderKL(**settings).save_pretrained(folder / "vae")  # a 4-channel KL autoencoder beside a 3-channel UNet
    with pytest.raises(ModelError, match="UNet has 3 input channels but its autoencoder's latent has 4"):
        load_model(str(folder), device="cpu")


def test_missing_autoencoder_weights_are_one_sentence(tmp_path, untrained_model_dir):
    folder = save_latent_model(tmp_path / "partial", "vqvae", untrained_model_dir)
    (folder / "vqvae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelError, match="has no weights file .* the copy is incomplete"):
        load_model(str(folder), device="cpu")


def test_a_text_conditioned_folder_without_its_text_encoder_says_so(tmp_path, untrained_model_dir):
    folder = save_latent_model(tmp_path / "sd", "vae", untrained_model_dir)
    config = json.loads((folder / "unet" / "config.json").read_text())
    config["_class_name"] = "UNet2DConditionModel"
    (folder / "unet" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="incomplete Stable Diffusion model: text_encoder/config.json is missing"):
        load_model(str(folder), device="cpu")


def test_a_project_on_a_latent_model_embeds_renders_and_exports(latent_model_dir, tmp_path, capsys):
    """The CLI end to end, told nothing about the family: info, a new project with an embedded photo, a video."""
    import av
    from PIL import Image

    from latent_studio.cli import main

    assert main(["info", "--model", str(latent_model_dir), "--device", "cpu"]) == 0
    info = capsys.readouterr().out
    assert "32x32 RGB latent UNet, latent 3x16x16" in info and "components: UNet2DModel" in info
    assert ("VQModel" if latent_model_dir.name == "vqvae" else "AutoencoderKL") in info
    face = tmp_path / "face.png"
    Image.new("RGB", (50, 40), (200, 120, 90)).save(face)
    project = tmp_path / "p.lsproj"
    assert main(["new", str(project), "--model", str(latent_model_dir), "--device", "cpu", "--image", str(face),
                 "--seed", "4", "--duration", "0.25", "--fps", "24", "--size", "32x32", "--steps", "4"]) == 0
    out = tmp_path / "clip.mp4"
    assert main(["render", str(project), "-o", str(out), "--model", str(latent_model_dir), "--device", "cpu"]) == 0
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert sum(1 for _ in container.decode(video=0)) == 6
        assert (stream.codec_context.width, stream.codec_context.height) == (32, 32)


def test_training_a_one_pass_network_on_a_latent_model_is_one_sentence(latent_model_dir, capsys):
    from latent_studio.cli import main

    assert main(["train-embedder", "--model", str(latent_model_dir), "--device", "cpu", "--pairs", "64"]) == 2
    assert "is trained for pixel-space models" in capsys.readouterr().err
    assert not (latent_model_dir / "embedder").exists()


def test_a_prompt_for_a_model_that_reads_none_is_one_sentence(latent_model_dir, tmp_path, capsys):
    from latent_studio.cli import main

    code = main(["new", str(tmp_path / "p.lsproj"), "--model", str(latent_model_dir), "--device", "cpu", "--seed", "1",
                 "--prompt", "a face"])
    assert code == 2 and "does not read prompts; clear the prompt" in capsys.readouterr().err
    assert not (tmp_path / "p.lsproj").exists()
