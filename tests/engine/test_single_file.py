"""Stable Diffusion from one .safetensors checkpoint in the original (CompVis) naming, as model sites share it.

Two kinds of check. The shipped 1.x and 2.x configs are built full size on
torch's meta device (no memory), written in the original naming and read
back through diffusers' converters: every tensor must land where the config
expects it, and diffusers' own detector must take the synthetic file for the
version it is. A tiny model (the family test's) is written as a single file
and loaded beside its diffusers folder: same pictures, same prompt embedding.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from latent_studio.core.errors import ModelError
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.decode import decode
from latent_studio.engine.families import single_file
from latent_studio.engine.families.stable_diffusion import in_model_naming
from latent_studio.engine.models import load_model
from tests.engine.original_checkpoint import (
    clip_to_original,
    open_clip_to_original,
    unet_to_original,
    vae_to_original,
)
from tests.engine.test_stable_diffusion_family import TOKENS, save_tiny_sd

pytest.importorskip("transformers")


def file_naming(text_encoder) -> dict[str, torch.Tensor]:
    """The text encoder's tensors as files name them (``text_model.*``), whatever transformers' own naming."""
    return {k if k.startswith("text_projection") else f"text_model.{k.removeprefix('text_model.')}": v
            for k, v in text_encoder.state_dict().items() if not k.endswith("position_ids")}


def original_checkpoint(unet, vae, text_encoder, version: str, text_encoder_2=None) -> dict[str, torch.Tensor]:
    state = unet_to_original(unet.state_dict(), dict(unet.config))
    state.update(vae_to_original(vae.state_dict(), dict(vae.config)))
    text = file_naming(text_encoder)
    if version == "1":
        state.update(clip_to_original(text))
    elif version == "2":
        state.update(open_clip_to_original(text, text_encoder.config.num_hidden_layers))
    else:
        state.update(clip_to_original(text, "conditioner.embedders.0.transformer."))
        state.update(open_clip_to_original(file_naming(text_encoder_2), text_encoder_2.config.num_hidden_layers,
                                           "conditioner.embedders.1.model.", extra_layer=False))
    return state


@pytest.mark.parametrize("version", ["1", "2", "xl"])
def test_the_shipped_configs_read_a_full_size_original_checkpoint(version):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    path = Path(f"sd-{version}.safetensors")
    configs = single_file.read_configs(version, path)
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(configs["unet"])
        vae = AutoencoderKL.from_config(configs["vae"])
        text_encoder = CLIPTextModel(CLIPTextConfig.from_dict(configs["text_encoder"]))
        second = (CLIPTextModelWithProjection(CLIPTextConfig.from_dict(configs["text_encoder_2"]))
                  if version == "xl" else None)
    checkpoint = original_checkpoint(unet, vae, text_encoder, version, second)
    assert sum(p.numel() for p in unet.parameters()) == {"1": 859_520_964, "2": 865_910_724, "xl": 2_567_463_684}[version]
    assert infer_diffusers_model_type(checkpoint) == {"1": "v1", "2": "v2", "xl": "xl_base"}[version]  # as real files
    assert single_file.detect_version(checkpoint, path) == version
    converted = single_file.convert(checkpoint, version, configs, path)
    parts = [("unet", unet), ("vae", vae), ("text_encoder", text_encoder)] + ([("text_encoder_2", second)] if second else [])
    for part, module in parts:
        expected = {k: tuple(v.shape) for k, v in module.state_dict().items() if not k.endswith("position_ids")}
        weights = in_model_naming(converted[part], module) if part.startswith("text_encoder") else converted[part]
        assert {k: tuple(v.shape) for k, v in weights.items()} == expected, part


def test_a_2x_checkpoint_is_v_prediction_at_768_unless_a_yaml_beside_it_says_otherwise(tmp_path):
    path = tmp_path / "model.safetensors"
    configs = single_file.read_configs("2", path)
    assert configs["scheduler"]["prediction_type"] == "v_prediction" and configs["unet"]["sample_size"] == 96
    path.with_suffix(".yaml").write_text("model:\n  params:\n    linear_start: 0.00085\n")  # v2-inference.yaml (base)
    configs = single_file.read_configs("2", path)
    assert configs["scheduler"]["prediction_type"] == "epsilon" and configs["unet"]["sample_size"] == 64
    path.with_suffix(".yaml").write_text("model:\n  params:\n    parameterization: \"v\"\n")
    assert single_file.read_configs("1", path)["scheduler"]["prediction_type"] == "v_prediction"
    path.with_suffix(".yaml").write_text("model: [unclosed\n")
    with pytest.raises(ModelError, match="model.yaml beside the checkpoint cannot be read"):
        single_file.read_configs("1", path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny SD as a diffusers folder, and as one original-layout file whose configs are the folder's."""
    root = tmp_path_factory.mktemp("single")
    folder = save_tiny_sd(root / "tiny-sd")
    model = load_model(str(folder), device="cpu")
    family = model.family
    path = root / "tiny-sd.safetensors"
    state = original_checkpoint(family.unet, family.autoencoder.module, family.text_encoder, "1")
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))  # the loaded modules are channels-last
    configs = root / "configs" / "stable-diffusion-1"
    for part in ("unet", "vae", "text_encoder"):
        (configs / part).mkdir(parents=True)
        shutil.copy(folder / part / "config.json", configs / part / "config.json")
    shutil.copytree(folder / "scheduler", configs / "scheduler")
    (configs / "tokenizer").mkdir()
    (configs / "tokenizer" / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
         "unk_token": "<|endoftext|>", "model_max_length": TOKENS}))
    shutil.copytree(folder / "tokenizer", root / "configs" / "clip-tokenizer")
    return folder, path, configs, model


@pytest.fixture
def tiny_configs(tiny, monkeypatch):
    monkeypatch.setattr(single_file, "config_folder", lambda version: tiny[2])
    return tiny


def test_a_single_file_loads_as_the_same_model_as_its_folder(tiny_configs):
    folder, path, _, folder_model = tiny_configs
    model = load_model(str(path), device="cpu")
    assert model.source.kind == "file" and model.family.name == "Stable Diffusion"
    assert model.source.home == path.with_name("tiny-sd.safetensors.latent-studio")
    assert model.latent_shape == folder_model.latent_shape and model.image_size == folder_model.image_size
    torch.testing.assert_close(model.family.conditioning("a face").embedding,
                               folder_model.family.conditioning("a face").embedding, rtol=0, atol=0)
    latents = np.stack([noise_latent(seed, model.latent_shape) for seed in (1, 2)])
    np.testing.assert_array_equal(decode(model, latents, 4), decode(folder_model, latents, 4))
    assert model.content_hash != folder_model.content_hash  # a hash of the file, not of the folder


def test_info_and_render_take_the_file(tiny_configs, tmp_path, capsys):
    from latent_studio.cli import main

    _, path, _, _ = tiny_configs
    assert main(["info", "--model", str(path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"(file: {path})" in out and "32x32 RGB Stable Diffusion" in out
    project = tmp_path / "p.lsproj"
    assert main(["new", str(project), "--model", str(path), "--device", "cpu", "--seed", "3", "--seed", "4",
                 "--duration", "0.25", "--size", "32x32", "--steps", "4"]) == 0
    assert main(["render", str(project), "-o", str(tmp_path / "frames"), "--format", "png", "--steps", "4",
                 "--device", "cpu"]) == 0
    assert len(list((tmp_path / "frames").glob("*.png"))) >= 2


def _tensors(**shapes) -> dict[str, torch.Tensor]:
    return {key.replace("__", "."): torch.zeros(shape) for key, shape in shapes.items()}


UNET_CONV = "model.diffusion_model.input_blocks.0.0.weight"


@pytest.mark.parametrize("state, message", [
    ({"conditioner.embedders.0.model.ln_final.weight": torch.zeros(4), UNET_CONV: torch.zeros(8, 4, 3, 3)},
     "is an SDXL refiner checkpoint"),
    ({"down_blocks.0.resnets.0.conv1.weight": torch.zeros(2)}, "holds a UNet alone in diffusers' naming"),
    ({"decoder.conv_in.weight": torch.zeros(2)}, "holds an autoencoder alone"),
    ({"lora_unet_down.alpha": torch.zeros(1)}, "holds no diffusion model Latent Studio knows"),
    ({UNET_CONV: torch.zeros(8, 9, 3, 3), "first_stage_model.x": torch.zeros(1)}, "inpainting or upscaling"),
    ({UNET_CONV: torch.zeros(8, 4, 3, 3), "cond_stage_model.transformer.x": torch.zeros(1)}, "lacks the autoencoder"),
    ({UNET_CONV: torch.zeros(8, 4, 3, 3), "first_stage_model.x": torch.zeros(1)}, "lacks the text encoder"),
])
def test_a_checkpoint_of_another_kind_is_one_sentence(tmp_path, state, message):
    path = tmp_path / "other.safetensors"
    save_file(state, str(path))
    with pytest.raises(ModelError, match=message):
        load_model(str(path), device="cpu")


def test_a_checkpoint_that_does_not_fit_the_layout_is_one_sentence(tiny_configs, tmp_path):
    _, path, _, _ = tiny_configs
    from safetensors.torch import load_file

    state = load_file(str(path))
    key = "model.diffusion_model.out.2.weight"
    state[key] = torch.zeros(state[key].shape[0], state[key].shape[1] + 1, 3, 3)
    wrong = tmp_path / "wrong.safetensors"
    save_file(state, str(wrong))
    with pytest.raises(ModelError, match="not a standard Stable Diffusion checkpoint"):
        load_model(str(wrong), device="cpu")
    del state["model.diffusion_model.middle_block.1.proj_in.weight"]
    save_file(state, str(wrong))
    with pytest.raises(ModelError, match="not a standard Stable Diffusion checkpoint"):
        load_model(str(wrong), device="cpu")


def test_pickled_truncated_missing_and_unknown_files_are_one_sentence_and_exit_2(tiny, tmp_path, capsys):
    from latent_studio.cli import main

    pickled = tmp_path / "model.ckpt"
    pickled.write_bytes(b"PK\x03\x04 not really")
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(tiny[1].read_bytes()[:5000])
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    cases = [(pickled, "pickled checkpoint, which can run code"), (truncated, "damaged or incompletely copied"),
             (tmp_path / "absent.safetensors", "Checkpoint file .* does not exist"),
             (other, "is a file but not a .safetensors checkpoint")]
    for path, message in cases:
        assert main(["info", "--model", str(path), "--device", "cpu"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert re.search(message, err), err


def test_an_sdxl_single_file_loads_as_the_same_model_as_its_folder(tmp_path, monkeypatch):
    from tests.engine.test_stable_diffusion_xl_family import save_tiny_sdxl

    folder = save_tiny_sdxl(tmp_path / "tiny-sdxl")
    folder_model = load_model(str(folder), device="cpu")
    family = folder_model.family
    state = original_checkpoint(family.unet, family.autoencoder.module, family.text_encoder, "xl", family.text_encoder_2)
    path = tmp_path / "tiny-sdxl.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    configs = tmp_path / "configs" / "stable-diffusion-xl"
    for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
        (configs / part).mkdir(parents=True)
        shutil.copy(folder / part / "config.json", configs / part / "config.json")
    shutil.copytree(folder / "scheduler", configs / "scheduler")
    for part in ("tokenizer", "tokenizer_2"):
        (configs / part).mkdir()
        (configs / part / "tokenizer_config.json").write_text(json.dumps({"model_max_length": TOKENS}))
    shutil.copytree(folder / "tokenizer", tmp_path / "configs" / "clip-tokenizer")
    monkeypatch.setattr(single_file, "config_folder", lambda version: configs)
    model = load_model(str(path), device="cpu")
    assert model.family.name == "Stable Diffusion XL"
    for ours, theirs in ((model.family.conditioning("a face", "", 2.0), family.conditioning("a face", "", 2.0)),):
        torch.testing.assert_close(ours.embedding, theirs.embedding, rtol=0, atol=0)
        torch.testing.assert_close(ours.pooled, theirs.pooled, rtol=0, atol=0)
    latents = np.stack([noise_latent(seed, model.latent_shape) for seed in (1, 2)])
    np.testing.assert_array_equal(decode(model, latents, 4), decode(folder_model, latents, 4))


def test_a_hub_repos_single_file_loads_from_the_cache_offline(tiny_configs, tmp_path, monkeypatch):
    """owner/name/FILE.safetensors: one checkpoint of a repo that has no diffusers folder (as model sites share)."""
    from tests.engine.test_models import populate_hub_cache

    _, path, _, folder_model = tiny_configs
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(path, repo / "tiny-v1.safetensors")
    populate_hub_cache(tmp_path / "hub", "someone/tiny-checkpoints", repo)
    model = load_model("someone/tiny-checkpoints/tiny-v1.safetensors", device="cpu", cache_dir=tmp_path / "hub")
    assert model.source.kind == "hub" and model.family.name == "Stable Diffusion"
    assert model.source.home.name == "tiny-v1.safetensors.latent-studio"
    latents = np.stack([noise_latent(1, model.latent_shape)])
    np.testing.assert_array_equal(decode(model, latents, 4), decode(folder_model, latents, 4))

    with pytest.raises(ModelError) as info:  # the repo's name alone: which file to take, in one sentence
        load_model("someone/tiny-checkpoints", device="cpu", cache_dir=tmp_path / "hub")
    assert str(info.value) == ("'someone/tiny-checkpoints' holds single-file checkpoints, not a diffusers model folder "
                               "(tiny-v1.safetensors); load one with --model someone/tiny-checkpoints/tiny-v1.safetensors.")
    with pytest.raises(ModelError, match="not in the Hugging Face cache and HF_HUB_OFFLINE is set.*"
                                         "hf download someone/tiny-checkpoints other.safetensors"):
        load_model("someone/tiny-checkpoints/other.safetensors", device="cpu", cache_dir=tmp_path / "hub")


def test_a_pickled_hub_checkpoint_is_refused_before_anything_downloads(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: pytest.fail("downloaded a pickle"))
    with pytest.raises(ModelError, match="pickled checkpoint"):
        load_model("someone/old-model/v1-5-pruned.ckpt", device="cpu")


def test_without_the_text_extra_a_checkpoint_is_one_sentence(tiny, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ModelError, match=r"tiny-sd.safetensors is a Stable Diffusion model, and its text encoder needs "
                                         r"transformers, which is not installed: pip install \"latent-studio\[text\]\""):
        load_model(str(tiny[1]), device="cpu")
