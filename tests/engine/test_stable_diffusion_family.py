"""The Stable-Diffusion family on a tiny seeded model built in code (as diffusers' own tests build theirs).

A KL autoencoder that halves each side, a two-level UNet2DConditionModel with
32-wide cross-attention, a two-layer CLIP text encoder and a 54-token CLIP
tokenizer written by the test: 32x32 pictures from a (4, 16, 16) latent.
Untrained, so the tests check the family's promises, not pictures.
"""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import numpy as np
import pytest
import torch

from latent_studio.core.errors import ModelError
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.decode import decode
from latent_studio.engine.embedding import embed
from latent_studio.engine.models import load_model
from tests.conftest import make_scheduler

TEXT_WIDTH = 32
TOKENS = 8


def write_tokenizer(folder: Path) -> None:
    """A CLIP BPE vocabulary of single letters, as files a real model ships (vocab.json, merges.txt)."""
    from transformers import CLIPTokenizer

    source = folder.parent / "tokenizer-source"
    source.mkdir()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for letter in string.ascii_lowercase:
            vocab[letter + suffix] = len(vocab)
    (source / "vocab.json").write_text(json.dumps(vocab))
    (source / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer.from_pretrained(str(source), model_max_length=TOKENS).save_pretrained(str(folder))


def save_tiny_sd(folder: Path) -> Path:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1,
                  norm_num_groups=4, sample_size=32, down_block_types=("DownEncoderBlock2D",) * 2,
                  up_block_types=("UpDecoderBlock2D",) * 2).save_pretrained(folder / "vae")
    UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
                         norm_num_groups=4, cross_attention_dim=TEXT_WIDTH, attention_head_dim=2,
                         down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D")).save_pretrained(folder / "unet")
    CLIPTextModel(CLIPTextConfig(vocab_size=60, hidden_size=TEXT_WIDTH, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=2, max_position_embeddings=TOKENS, pad_token_id=1, bos_token_id=0,
                                 eos_token_id=1)).save_pretrained(folder / "text_encoder")
    write_tokenizer(folder / "tokenizer")
    make_scheduler().save_pretrained(folder / "scheduler")
    index = {"_class_name": "StableDiffusionPipeline", "vae": ["diffusers", "AutoencoderKL"],
             "unet": ["diffusers", "UNet2DConditionModel"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDPMScheduler"]}
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory) -> Path:
    return save_tiny_sd(tmp_path_factory.mktemp("sd") / "tiny-sd")


@pytest.fixture(scope="module")
def sd_model(sd_dir):
    return load_model(str(sd_dir), device="cpu")


def test_it_loads_with_the_empty_prompt_at_guidance_1(sd_model):
    family = sd_model.family
    assert family.name == "Stable Diffusion" and len(family.modules()) == 3
    assert sd_model.latent_shape == (4, 16, 16) and sd_model.image_size == (32, 32)
    assert family.default_conditioning.prompt == "" and family.default_conditioning.guidance == 1.0
    assert family.default_conditioning.embedding.shape == (1, TOKENS, TEXT_WIDTH)


def test_decode_is_deterministic_and_batching_changes_nothing(sd_model):
    latents = np.stack([noise_latent(seed, sd_model.latent_shape) for seed in (1, 2, 3)])
    batched = decode(sd_model, latents, 4, batch_size=3)
    singles = np.concatenate([decode(sd_model, latent[None], 4) for latent in latents])
    assert batched.shape == (3, 32, 32, 3)
    assert np.abs(batched.astype(int) - singles.astype(int)).max() <= 1
    assert np.array_equal(batched, decode(sd_model, latents, 4, batch_size=3))


def test_a_prompt_changes_the_prediction_and_guidance_extrapolates_from_the_negative(sd_model):
    family = sd_model.family
    x = torch.from_numpy(noise_latent(4, sd_model.latent_shape))[None]
    with torch.inference_mode():
        empty = family.denoise(x, 500)
        prompted = family.denoise(x, 500, family.conditioning("a face"))
        guided = family.denoise(x, 500, family.conditioning("a face", guidance=3.0))
    assert not torch.equal(empty, prompted)
    torch.testing.assert_close(guided, empty + 3.0 * (prompted - empty), rtol=1e-4, atol=1e-5)  # classifier-free guidance


def test_embedding_encodes_then_inverts(sd_model):
    picture = decode(sd_model, noise_latent(9, sd_model.latent_shape), 4)[0]
    result = embed(sd_model, picture, 4)
    assert result.latent.shape == (4, 16, 16) and np.isfinite(result.psnr)


def test_info_names_every_component(sd_dir, capsys):
    from latent_studio.cli import main

    assert main(["info", "--model", str(sd_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "32x32 RGB Stable Diffusion, latent 4x16x16" in out
    assert "UNet2DConditionModel" in out and "AutoencoderKL" in out and "CLIPTextModel" in out


def test_without_the_text_extra_it_is_one_sentence_and_exit_2(sd_dir, monkeypatch, capsys):
    """As a pip install without transformers, or the desktop bundle built without it, meets a Stable Diffusion model."""
    import sys

    from latent_studio.cli import main

    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers now raises ImportError
    assert main(["info", "--model", str(sd_dir), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "tiny-sd is a Stable Diffusion model, and its text encoder needs transformers" in err
    assert 'pip install "latent-studio[text]"' in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: shutil.rmtree(f / "tokenizer"), "incomplete Stable Diffusion model: tokenizer is missing"),
        (lambda f: (f / "text_encoder" / "model.safetensors").unlink(), "no weights file model.safetensors"),
        (lambda f: (f / "text_encoder_2").mkdir(), "incomplete Stable Diffusion model: text_encoder_2/config.json"),
        (lambda f: (f / "text_encoder" / "model.safetensors").write_bytes(b"\0" * 64), "damaged or incompletely copied"),
    ],
)
def test_a_broken_folder_is_one_sentence(sd_dir, tmp_path, damage, message):
    folder = shutil.copytree(sd_dir, tmp_path / "broken")
    damage(folder)
    with pytest.raises(ModelError, match=message):
        load_model(str(folder), device="cpu")


def test_a_projects_prompt_reaches_every_frame_and_keys_the_cache(sd_dir, tmp_path, capsys):
    """`new --prompt` stores it; `inspect` shows it; a render under it differs from one without, and is cached apart."""
    from dataclasses import replace

    from latent_studio.app.projects import THUMBNAIL_STEPS
    from latent_studio.cli import main
    from latent_studio.core.project_file import load_project
    from latent_studio.engine.render import FrameCache, render_frames
    from latent_studio.media.images import encode_png

    project_path = tmp_path / "p.lsproj"
    assert main(["new", str(project_path), "--model", str(sd_dir), "--device", "cpu", "--seed", "3", "--seed", "4",
                 "--duration", "0.25", "--size", "32x32", "--steps", "4", "--prompt", "a face",
                 "--negative-prompt", "blur", "--guidance", "2.5"]) == 0
    assert main(["inspect", str(project_path)]) == 0
    assert "prompt 'a face', negative prompt 'blur', guidance 2.5" in capsys.readouterr().out
    project = load_project(project_path)
    model = load_model(str(sd_dir), device="cpu")
    cache = FrameCache()
    guided = [f.image for f in render_frames(model, project, [0, 3], 4, cache=cache)]
    plain_project = replace(project, settings=replace(project.settings, prompt="", negative_prompt="", guidance=1.0))
    plain = [f.image for f in render_frames(model, plain_project, [0, 3], 4, cache=cache)]
    assert not np.array_equal(guided[0], plain[0]) and not np.array_equal(guided[1], plain[1])
    again = list(render_frames(model, project, [0, 3], 4, cache=cache))
    assert all(f.cached for f in again) and np.array_equal(again[0].image, guided[0])
    first = project.assets[project.anchors[0].value]  # a seed's thumbnail is decoded as the project renders it
    conditioning = model.family.conditioning("a face", "blur", 2.5)
    assert first.thumbnail == encode_png(decode(model, first.latent, THUMBNAIL_STEPS, conditioning=conditioning)[0])


def test_a_photo_is_embedded_under_the_projects_prompt_and_reconstructs_as_the_project_renders(sd_dir, sd_model, tmp_path):
    import io

    from PIL import Image

    from latent_studio.cli import main
    from latent_studio.core.project_file import load_project
    from latent_studio.engine.render import render_frames

    face = tmp_path / "face.png"
    Image.fromarray(decode(sd_model, noise_latent(6, sd_model.latent_shape), 4)[0]).save(face)
    project_path = tmp_path / "p.lsproj"
    assert main(["new", str(project_path), "--model", str(sd_dir), "--device", "cpu", "--image", str(face),
                 "--duration", "0.25", "--size", "32x32", "--steps", "4", "--prompt", "a face", "--guidance", "2"]) == 0
    project = load_project(project_path)
    asset = next(iter(project.assets.values()))
    assert (asset.metadata["prompt"], asset.metadata["guidance"]) == ("a face", "2")
    thumbnail = np.asarray(Image.open(io.BytesIO(asset.thumbnail)))
    frame = next(iter(render_frames(sd_model, project, [0], 4))).image
    np.testing.assert_array_equal(thumbnail, frame)  # embedded under the conditioning it is rendered with
    assert not np.array_equal(thumbnail, decode(sd_model, asset.latent, 4)[0])  # not the empty prompt's decode


def test_a_text_encoder_file_in_either_transformers_naming_loads_the_same(sd_dir, sd_model, tmp_path):
    """Real SD folders name CLIP's tensors ``text_model.*`` (transformers 4); transformers 5's model drops that."""
    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(sd_dir, tmp_path / "renamed")
    weights = folder / "text_encoder" / "model.safetensors"
    state = load_file(str(weights))
    flipped = {(k.removeprefix("text_model.") if k.startswith("text_model.") else f"text_model.{k}"): v
               for k, v in state.items()}
    save_file(flipped, str(weights))
    model = load_model(str(folder), device="cpu")
    torch.testing.assert_close(model.family.conditioning("a face").embedding,
                               sd_model.family.conditioning("a face").embedding, rtol=0, atol=0)


def test_embed_and_decode_on_the_command_line_carry_the_prompt(sd_dir, sd_model, tmp_path, capsys):
    """`embed --prompt` inverts under it and records it; `decode` uses the recorded prompt unless told another."""
    from PIL import Image

    from latent_studio.cli import main
    from latent_studio.core.latent_file import load_latent

    face = tmp_path / "face.png"
    Image.fromarray(decode(sd_model, noise_latent(6, sd_model.latent_shape), 4)[0]).save(face)
    latent = tmp_path / "face.safetensors"
    assert main(["embed", str(face), "-o", str(latent), "--model", str(sd_dir), "--device", "cpu", "--steps", "4",
                 "--prompt", "a face", "--guidance", "2", "--reconstruction", str(tmp_path / "r.png")]) == 0
    assert "Guidance 2: DDIM inversion is exact only at guidance 1" in capsys.readouterr().out
    metadata = load_latent(latent).metadata
    assert (metadata["prompt"], metadata["negative_prompt"], metadata["guidance"]) == ("a face", "", "2")
    assert main(["decode", str(latent), "-o", str(tmp_path / "d.png"), "--model", str(sd_dir), "--device", "cpu"]) == 0
    same = np.asarray(Image.open(tmp_path / "d.png"))
    np.testing.assert_array_equal(same, np.asarray(Image.open(tmp_path / "r.png")))  # decoded under the same prompt
    assert main(["decode", str(latent), "-o", str(tmp_path / "plain.png"), "--model", str(sd_dir), "--device", "cpu",
                 "--prompt", "", "--guidance", "1"]) == 0
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "plain.png")), same)


def test_a_prompt_for_a_model_that_reads_none_is_one_sentence(trained_model_dir, tmp_path, capsys):
    from PIL import Image

    from latent_studio.cli import main

    face = tmp_path / "face.png"
    Image.new("RGB", (16, 16), (120, 90, 60)).save(face)
    assert main(["embed", str(face), "-o", str(tmp_path / "f.safetensors"), "--model", str(trained_model_dir),
                 "--device", "cpu", "--prompt", "a face"]) == 2
    assert "does not read prompts" in capsys.readouterr().err
    assert not (tmp_path / "f.safetensors").exists()


def test_it_decodes_under_bf16_autocast_as_a_cpu_with_bf16_instructions_does(sd_dir, sd_model):
    """The denoiser with its text conditioning and cross-attention runs under autocast; the autoencoder decodes the
    result outside it, in its own dtype."""
    from latent_studio.core.metrics import psnr

    fast = load_model(str(sd_dir), device="cpu", dtype="float32", decode_dtype="bf16")
    latents = np.stack([noise_latent(seed, sd_model.latent_shape) for seed in (1, 2)])
    ours, theirs = decode(fast, latents, 4), decode(sd_model, latents, 4)
    assert not np.array_equal(ours, theirs)
    assert min(psnr(a, b) for a, b in zip(ours, theirs, strict=True)) > 40  # 57-58 dB measured
