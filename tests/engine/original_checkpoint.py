"""Writing a diffusers Stable Diffusion in the original (CompVis) single-file naming, as model sites share it.

The inverse of diffusers' single-file converters, after the mapping of
diffusers' ``scripts/convert_diffusers_to_original_stable_diffusion.py``,
generalised to any number of levels and layers per block so that tiny test
models can be written too. Tests check that converting back gives every
tensor unchanged, so the naming here is the one diffusers reads.
"""

from __future__ import annotations

import torch

RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
          ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection"))
UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
            "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
            "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}  # SDXL's
VAE_ATTENTION = (("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out."))


def unet_to_original(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    layers, levels = config["layers_per_block"], len(config["block_out_channels"])
    prefixes = dict(UNET_TOP)
    for i in range(levels):
        for j in range(layers):
            prefixes[f"down_blocks.{i}.resnets.{j}"] = f"input_blocks.{(layers + 1) * i + j + 1}.0"
            prefixes[f"down_blocks.{i}.attentions.{j}"] = f"input_blocks.{(layers + 1) * i + j + 1}.1"
        prefixes[f"down_blocks.{i}.downsamplers.0.conv"] = f"input_blocks.{(layers + 1) * (i + 1)}.0.op"
        up_has_attention = config["up_block_types"][i].startswith("CrossAttn")
        for j in range(layers + 1):
            prefixes[f"up_blocks.{i}.resnets.{j}"] = f"output_blocks.{(layers + 1) * i + j}.0"
            prefixes[f"up_blocks.{i}.attentions.{j}"] = f"output_blocks.{(layers + 1) * i + j}.1"
        prefixes[f"up_blocks.{i}.upsamplers.0"] = f"output_blocks.{(layers + 1) * i + layers}.{2 if up_has_attention else 1}"
    prefixes["mid_block.attentions.0"] = "middle_block.1"
    for j in range(2):
        prefixes[f"mid_block.resnets.{j}"] = f"middle_block.{2 * j}"
    original = {}
    for key, tensor in state.items():
        prefix = max((p for p in prefixes if key.startswith(p + ".")), key=len)
        rest = key[len(prefix):]
        if ".resnets." in prefix:
            for new, old in RESNET:
                rest = rest.replace(f".{new}.", f".{old}.")
        original["model.diffusion_model." + prefixes[prefix] + rest] = tensor
    return original


def vae_to_original(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    levels = len(config["block_out_channels"])
    original = {}
    for key, tensor in state.items():
        new = key
        for i in range(levels):
            new = new.replace(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block.")
            new = new.replace(f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample.")
            new = new.replace(f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{levels - 1 - i}.block.")
            new = new.replace(f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{levels - 1 - i}.upsample.")
        for i in range(2):
            new = new.replace(f"mid_block.resnets.{i}.", f"mid.block_{i + 1}.")
        new = new.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
        if "mid_block.attentions.0." in new:
            new = new.replace("mid_block.attentions.0.", "mid.attn_1.")
            for old, ldm in VAE_ATTENTION:
                new = new.replace(old, ldm)
            if tensor.ndim == 2:  # the original's attention projections are 1x1 convolutions
                tensor = tensor[:, :, None, None]
        original["first_stage_model." + new] = tensor
    return original


def clip_to_original(state: dict[str, torch.Tensor], prefix: str = "cond_stage_model.transformer.") -> dict[str, torch.Tensor]:
    """SD 1.x (SDXL's first encoder: ``conditioner.embedders.0.transformer.``): transformers' CLIP text model."""
    return {prefix + k: v for k, v in state.items() if k != "text_projection.weight"}


def open_clip_to_original(state: dict[str, torch.Tensor], layers: int, prefix: str = "cond_stage_model.model.", *,
                          extra_layer: bool = True) -> dict[str, torch.Tensor]:
    """SD 2.x: OpenCLIP's text tower (fused attention projections, one more layer than diffusers keeps);
    SDXL's second encoder (``conditioner.embedders.1.model.``) uses every layer and its projection."""
    original = {prefix + "positional_embedding": state["text_model.embeddings.position_embedding.weight"],
                prefix + "token_embedding.weight": state["text_model.embeddings.token_embedding.weight"],
                prefix + "ln_final.weight": state["text_model.final_layer_norm.weight"],
                prefix + "ln_final.bias": state["text_model.final_layer_norm.bias"]}
    width = original[prefix + "ln_final.weight"].shape[0]
    for i in range(layers + extra_layer):  # OpenCLIP's last layer, which SD 2.x skips, is in its files too
        source = min(i, layers - 1)
        layer = f"text_model.encoder.layers.{source}."
        block = f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            original[f"{block}attn.in_proj_{kind}"] = torch.cat(
                [state[f"{layer}self_attn.{p}_proj.{kind}"] for p in "qkv"])
            original[f"{block}attn.out_proj.{kind}"] = state[f"{layer}self_attn.out_proj.{kind}"]
            original[f"{block}ln_1.{kind}"] = state[f"{layer}layer_norm1.{kind}"]
            original[f"{block}ln_2.{kind}"] = state[f"{layer}layer_norm2.{kind}"]
            original[f"{block}mlp.c_fc.{kind}"] = state[f"{layer}mlp.fc1.{kind}"]
            original[f"{block}mlp.c_proj.{kind}"] = state[f"{layer}mlp.fc2.{kind}"]
    projection = state.get("text_projection.weight")
    original[prefix + "text_projection"] = torch.zeros(width, width) if projection is None else projection.T
    return original
