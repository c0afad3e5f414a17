"""The model-family seam: a family whose model space is not its image space plugs in below the engine's callers.

The test family wraps the trained 16x16 pixel UNet in a 2x "autoencoder"
(average-pool in, nearest upsample out): its pictures are 32x32 while its
latent stays (3, 16, 16), as for a latent-diffusion model. Nothing in
decode, embedding or the app's asset making is told about it.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from latent_studio.core.errors import ModelError
from latent_studio.core.seeds import noise_latent
from latent_studio.engine import families
from latent_studio.engine.decode import decode
from latent_studio.engine.devices import Placement
from latent_studio.engine.embedding import embed
from latent_studio.engine.families import pixel_unet
from latent_studio.engine.families.files import use_fast_layout
from latent_studio.engine.models import load_model

MARKER = "twice-as-large.txt"


class TwiceAsLarge(pixel_unet.PixelUNet):
    name = "pixel UNet at 2x"

    @property
    def image_size(self):
        height, width = self.latent_shape[1:]
        return (2 * height, 2 * width)

    def to_model_space(self, images):
        return torch.nn.functional.avg_pool2d(images.float(), 2)

    def to_images(self, x0):
        return torch.nn.functional.interpolate(x0, scale_factor=2, mode="nearest")


class TwiceAsLargeFamily:
    """What a family module offers: claims(folder) and load(folder, placement, allow_pickle=)."""

    @staticmethod
    def claims(folder):
        return (folder / MARKER).is_file()

    @staticmethod
    def load(folder, placement, *, allow_pickle=False):
        inner = pixel_unet.load(folder, placement, allow_pickle=allow_pickle)
        return TwiceAsLarge(inner.unet, inner.scheduler_config, inner.placement, inner.content_hash, inner.weights_file)


@pytest.fixture()
def large_model(trained_model_dir, tmp_path, monkeypatch):
    folder = tmp_path / "large"
    shutil.copytree(trained_model_dir, folder)
    (folder / MARKER).write_text("a test family")
    monkeypatch.setattr(families, "FAMILIES", (TwiceAsLargeFamily, *families.FAMILIES))
    return load_model(str(folder), device="cpu")


def test_the_first_family_that_claims_a_folder_loads_it(large_model, trained_model):
    assert large_model.family.name == "pixel UNet at 2x" and trained_model.family.name == "pixel UNet"
    assert large_model.latent_shape == (3, 16, 16) and large_model.image_size == (32, 32)
    assert trained_model.image_size == (16, 16)


def test_decode_ends_in_the_familys_image_space(large_model, trained_model):
    latents = np.stack([noise_latent(seed, large_model.latent_shape) for seed in (1, 2)])
    large = decode(large_model, latents, 10)
    small = decode(trained_model, latents, 10)
    assert large.shape == (2, 32, 32, 3)
    assert np.array_equal(large, small.repeat(2, axis=1).repeat(2, axis=2))


def test_embedding_starts_in_the_familys_model_space(large_model, trained_model):
    small = decode(trained_model, noise_latent(5, trained_model.latent_shape), 20)[0]
    picture = small.repeat(2, axis=0).repeat(2, axis=1)  # a 32x32 picture the 2x family can make exactly
    result = embed(large_model, picture, 20)
    assert result.latent.shape == (3, 16, 16) and result.reconstruction.shape == (32, 32, 3)
    assert result.psnr >= 40.0, result.psnr


def test_the_app_prepares_images_at_the_familys_size(large_model, trained_model, tmp_path):
    from PIL import Image

    from latent_studio.app.projects import image_asset

    small = decode(trained_model, noise_latent(7, trained_model.latent_shape), 20)[0]
    path = tmp_path / "face.png"
    Image.fromarray(small.repeat(4, axis=0).repeat(4, axis=1)).save(path)  # 64x64: prepared down to 32x32
    asset = image_asset(large_model, path, 20)
    assert asset.latent.shape == (3, 16, 16)
    assert asset.psnr is not None and asset.psnr >= 30.0, asset.psnr


def test_a_latent_diffusion_folder_without_its_unet_says_so(trained_model_dir, tmp_path):
    folder = tmp_path / "ldm"
    shutil.copytree(trained_model_dir, folder)
    shutil.move(folder / "unet", folder / "vqvae")  # an autoencoder and no UNet beside it
    with pytest.raises(ModelError, match="incomplete latent-diffusion model: unet/config.json is missing"):
        load_model(str(folder), device="cpu")


@pytest.mark.parametrize("device, layout", [("cpu", torch.channels_last), ("cuda", torch.contiguous_format)])
def test_convolutions_are_channels_last_on_cpu_only(device, layout):
    """On CUDA group norm turns channels-last activations back, so the default layout is faster there."""
    convolution = torch.nn.Conv2d(8, 8, 3)
    use_fast_layout(convolution, Placement(torch.device(device), torch.bfloat16))
    assert convolution.weight.is_contiguous(memory_format=layout)
    assert convolution.weight.is_contiguous(memory_format=torch.contiguous_format) == (layout is torch.contiguous_format)
