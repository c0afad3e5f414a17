"""The SDXL family on a tiny seeded model built in code (the shape of diffusers' own SDXL tests, smaller).

Two CLIP text encoders of width 16 (the second with a 16-wide projection),
a UNet reading their 32-wide hidden states side by side plus SDXL's pooled
text and size conditions, the family test's autoencoder and tokenizer.
Checked against diffusers' ``StableDiffusionXLPipeline``: the same prompt
embeddings and the same UNet prediction, so the family reads a real SDXL as
diffusers does.
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
from latent_studio.engine.decode import decode
from latent_studio.engine.embedding import embed
from latent_studio.engine.models import load_model
from tests.engine.test_stable_diffusion_family import TOKENS, save_tiny_sd

pytest.importorskip("transformers")
WIDTH = 16


def save_tiny_sdxl(folder: Path) -> Path:
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    save_tiny_sd(folder)  # its autoencoder, scheduler and tokenizer (for both encoders); the rest is replaced
    for part in ("unet", "text_encoder"):
        shutil.rmtree(folder / part)
    torch.manual_seed(0)
    UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
                         norm_num_groups=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                         up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=2,
                         use_linear_projection=True, cross_attention_dim=2 * WIDTH, addition_embed_type="text_time",
                         addition_time_embed_dim=4, projection_class_embeddings_input_dim=WIDTH + 6 * 4,
                         transformer_layers_per_block=(1, 2)).save_pretrained(folder / "unet")
    text_config = dict(vocab_size=60, hidden_size=WIDTH, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2,
                  max_position_embeddings=TOKENS, pad_token_id=1, bos_token_id=0, eos_token_id=1, projection_dim=WIDTH)
    CLIPTextModel(CLIPTextConfig(**text_config)).save_pretrained(folder / "text_encoder")
    CLIPTextModelWithProjection(CLIPTextConfig(hidden_act="gelu", **text_config)).save_pretrained(folder / "text_encoder_2")
    shutil.copytree(folder / "tokenizer", folder / "tokenizer_2")
    index = json.loads((folder / "model_index.json").read_text())
    index.update(_class_name="StableDiffusionXLPipeline", text_encoder_2=["transformers", "CLIPTextModelWithProjection"],
                 tokenizer_2=["transformers", "CLIPTokenizer"], force_zeros_for_empty_prompt=True)
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


@pytest.fixture(scope="module")
def sdxl_dir(tmp_path_factory) -> Path:
    return save_tiny_sdxl(tmp_path_factory.mktemp("sdxl") / "tiny-sdxl")


@pytest.fixture(scope="module")
def sdxl(sdxl_dir):
    return load_model(str(sdxl_dir), device="cpu")


def test_it_loads_as_sdxl_with_both_encoders(sdxl, sdxl_dir, capsys):
    from latent_studio.cli import main

    family = sdxl.family
    assert family.name == "Stable Diffusion XL" and len(family.modules()) == 4
    assert sdxl.latent_shape == (4, 16, 16) and sdxl.image_size == (32, 32)
    condition = family.default_conditioning
    assert condition.embedding.shape == (1, TOKENS, 2 * WIDTH) and condition.pooled.shape == (1, WIDTH)
    assert main(["info", "--model", str(sdxl_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Stable Diffusion XL" in out and "CLIPTextModelWithProjection" in out


def test_prompts_and_the_prediction_are_what_diffusers_sdxl_pipeline_makes(sdxl):
    from diffusers import StableDiffusionXLPipeline

    family = sdxl.family
    pipe = StableDiffusionXLPipeline(vae=family.autoencoder.module, text_encoder=family.text_encoder,
                                     text_encoder_2=family.text_encoder_2, tokenizer=family.tokenizer,
                                     tokenizer_2=family.tokenizer_2, unet=family.unet,
                                     scheduler=__import__("diffusers").DDIMScheduler(), force_zeros_for_empty_prompt=True)
    with torch.inference_mode():
        embeds, negative, pooled, negative_pooled = pipe.encode_prompt("a face", device="cpu",
                                                                       do_classifier_free_guidance=True)
        condition = family.conditioning("a face", "", 3.0)
        for ours, theirs in ((condition.embedding, embeds), (condition.negative_embedding, negative),
                             (condition.pooled, pooled), (condition.negative_pooled, negative_pooled)):
            torch.testing.assert_close(ours, theirs)
        assert not negative.any()  # the empty negative prompt is zeros, as the model asks
        sizes = pipe._get_add_time_ids((32, 32), (0, 0), (32, 32), dtype=embeds.dtype,
                                       text_encoder_projection_dim=WIDTH)
        x = torch.from_numpy(noise_latent(3, sdxl.latent_shape))[None]
        expected = family.unet(x, torch.tensor([500]), encoder_hidden_states=embeds,
                               added_cond_kwargs={"text_embeds": pooled, "time_ids": sizes}).sample
        torch.testing.assert_close(family.denoise(x, 500, family.conditioning("a face")), expected)
        guided = family.denoise(x, 500, condition)
        unguided = family.unet(x, torch.tensor([500]), encoder_hidden_states=negative,
                               added_cond_kwargs={"text_embeds": negative_pooled, "time_ids": sizes}).sample
        torch.testing.assert_close(guided, unguided + 3.0 * (expected - unguided), rtol=1e-4, atol=1e-5)


def test_decode_batches_and_embedding_round_trips(sdxl):
    latents = np.stack([noise_latent(seed, sdxl.latent_shape) for seed in (1, 2)])
    batched = decode(sdxl, latents, 4, batch_size=2)
    singles = np.concatenate([decode(sdxl, latent[None], 4) for latent in latents])
    assert np.abs(batched.astype(int) - singles.astype(int)).max() <= 1
    result = embed(sdxl, batched[0], 4)
    assert result.latent.shape == (4, 16, 16) and np.isfinite(result.psnr)


def _edit_unet_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "unet" / "config.json").read_text())
    (folder / "unet" / "config.json").write_text(json.dumps({**config, **changes}))


@pytest.mark.parametrize("damage, message", [
    (lambda f: shutil.rmtree(f / "text_encoder"), "is an SDXL refiner"),
    (lambda f: shutil.rmtree(f / "tokenizer_2"), "incomplete Stable Diffusion model: tokenizer_2 is missing"),
    (lambda f: (f / "text_encoder_2" / "model.safetensors").write_bytes(b"\0" * 64), "damaged or incompletely copied"),
    (lambda f: _edit_unet_config(f, addition_embed_type=None), "its UNet does not read SDXL's size conditions"),
])
def test_a_broken_sdxl_folder_is_one_sentence(sdxl_dir, tmp_path, damage, message):
    folder = shutil.copytree(sdxl_dir, tmp_path / "broken")
    damage(folder)
    with pytest.raises(ModelError, match=message):
        load_model(str(folder), device="cpu")


def test_text_encoders_of_another_model_are_one_sentence(sdxl_dir, tmp_path):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    folder = shutil.copytree(sdxl_dir, tmp_path / "mixed")
    shutil.rmtree(folder / "text_encoder_2")
    CLIPTextModelWithProjection(CLIPTextConfig(vocab_size=60, hidden_size=24, intermediate_size=32, num_hidden_layers=2,
                                               num_attention_heads=2, max_position_embeddings=TOKENS,
                                               projection_dim=WIDTH)).save_pretrained(folder / "text_encoder_2")
    with pytest.raises(ModelError, match="text encoders make 16 \\+ 24-wide ones"):
        load_model(str(folder), device="cpu")


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_sd_and_sdxl_load_from_the_hugging_face_cache_offline(kind, sdxl_dir, tmp_path, monkeypatch):
    from tests.engine.test_models import populate_hub_cache

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = sdxl_dir if kind == "sdxl" else save_tiny_sd(tmp_path / "tiny-sd")
    populate_hub_cache(tmp_path / "hub", f"someone/tiny-{kind}", source)
    model = load_model(f"someone/tiny-{kind}", device="cpu", cache_dir=tmp_path / "hub")
    assert model.source.kind == "hub"
    assert model.family.name == {"sd": "Stable Diffusion", "sdxl": "Stable Diffusion XL"}[kind]
