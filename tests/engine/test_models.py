"""Model resolution and loading: folders, bundled names, the HF cache offline, and every broken folder."""

import json
import shutil

import pytest
import torch

from latent_studio.core.errors import ModelError, UserError
from latent_studio.engine.devices import Placement, choose_placement
from latent_studio.engine.models import load_model, resolve_model
from tests.conftest import make_scheduler, make_tiny_unet


def copy_model(src, tmp_path, name="model"):
    return shutil.copytree(src, tmp_path / name)


def test_save_pretrained_round_trip(untrained_model_dir):
    model = load_model(str(untrained_model_dir), device="cpu")
    reference = make_tiny_unet().state_dict()
    loaded = model.family.unet.state_dict()
    assert set(loaded) == set(reference)
    assert all(torch.equal(loaded[k], reference[k]) for k in reference)
    assert model.latent_shape == (3, 16, 16)
    assert model.source.kind == "folder"
    assert len(model.content_hash) == 64


def test_flat_layout_like_google_ddpm(tmp_path):
    folder = tmp_path / "flat"
    make_tiny_unet().save_pretrained(folder)
    make_scheduler().save_pretrained(folder)
    assert (folder / "config.json").is_file() and (folder / "scheduler_config.json").is_file()
    assert load_model(str(folder), device="cpu").latent_shape == (3, 16, 16)


def test_content_hash_depends_on_weights_and_schedule(untrained_model_dir, tmp_path):
    base = load_model(str(untrained_model_dir), device="cpu").content_hash
    other = tmp_path / "other"
    make_tiny_unet(seed=1).save_pretrained(other / "unet")
    shutil.copytree(untrained_model_dir / "scheduler", other / "scheduler")
    assert load_model(str(other), device="cpu").content_hash != base
    resched = copy_model(untrained_model_dir, tmp_path, "resched")
    make_scheduler(beta_schedule="squaredcos_cap_v2").save_pretrained(resched / "scheduler")
    assert load_model(str(resched), device="cpu").content_hash != base


def test_bundled_model_by_name(untrained_model_dir, tmp_path, monkeypatch):
    shutil.copytree(untrained_model_dir, tmp_path / "res" / "models" / "tiny-bundled")
    monkeypatch.setenv("LATENT_STUDIO_RESOURCES", str(tmp_path / "res"))
    model = load_model("tiny-bundled", device="cpu")
    assert model.source.kind == "bundled"


def test_missing_default_model_says_how_to_choose_one(tmp_path, monkeypatch):
    (tmp_path / "res").mkdir()
    monkeypatch.setenv("LATENT_STUDIO_RESOURCES", str(tmp_path / "res"))
    monkeypatch.delenv("LATENT_STUDIO_MODEL", raising=False)
    with pytest.raises(ModelError, match="demo model 'toy-heads' is not installed.*--model"):
        resolve_model(None)


def populate_hub_cache(cache, repo_id, source):
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(source, repo / "snapshots" / commit)


def test_hub_id_resolves_from_local_cache_offline(untrained_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    populate_hub_cache(tmp_path / "hub", "someone/tiny-ddpm", untrained_model_dir)
    model = load_model("someone/tiny-ddpm", device="cpu", cache_dir=tmp_path / "hub")
    assert model.source.kind == "hub"
    assert model.latent_shape == (3, 16, 16)


def test_hub_id_not_cached_offline_gives_one_clear_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        load_model("someone/not-cached", device="cpu", cache_dir=tmp_path / "hub")
    message = str(info.value)
    assert "not in the Hugging Face cache" in message and "HF_HUB_OFFLINE" in message and "--model" in message


def test_unknown_name_and_missing_folder(tmp_path):
    with pytest.raises(ModelError, match="Unknown model 'nonsense'"):
        resolve_model("nonsense")
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "gone") + "/")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "unet" / "diffusion_pytorch_model.safetensors").unlink(), "no weights file"),
        (lambda f: _truncate(f / "unet" / "diffusion_pytorch_model.safetensors"), "damaged or incompletely copied"),
        (lambda f: shutil.rmtree(f / "scheduler"), "no scheduler_config.json"),
        (lambda f: shutil.rmtree(f / "unet"), "not a diffusers model folder"),
        (lambda f: (f / "unet" / "config.json").write_text("{ broken"), "damaged"),
        (lambda f: _edit_config(f, block_out_channels=[16, 32], norm_num_groups=8), "do not match"),
        (lambda f: _edit_config(f, in_channels=4, out_channels=4), "RGB pixel-space"),
        (lambda f: _edit_config(f, num_class_embeds=10), "class-conditional"),
    ],
    ids=["no-weights", "truncated-weights", "no-scheduler", "no-config", "bad-json", "config-mismatch", "latent-space", "class-cond"],
)
def test_broken_model_folders(untrained_model_dir, tmp_path, damage, message):
    folder = copy_model(untrained_model_dir, tmp_path)
    damage(folder)
    with pytest.raises(ModelError, match=message):
        load_model(str(folder), device="cpu")


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_config(folder, **changes):
    path = folder / "unet" / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_pickled_weights_refused_unless_allowed(untrained_model_dir, tmp_path):
    folder = copy_model(untrained_model_dir, tmp_path)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(make_tiny_unet().state_dict(), folder / "unet" / "diffusion_pytorch_model.bin")
    weights.unlink()
    with pytest.raises(ModelError, match="--allow-pickle"):
        load_model(str(folder), device="cpu")
    assert load_model(str(folder), device="cpu", allow_pickle=True).weights_file.suffix == ".bin"


def test_pickle_with_code_is_refused_even_when_allowed(untrained_model_dir, tmp_path):
    folder = copy_model(untrained_model_dir, tmp_path)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, folder / "unet" / "diffusion_pytorch_model.bin")
    with pytest.raises(ModelError, match="cannot be read safely"):
        load_model(str(folder), device="cpu", allow_pickle=True)


def test_device_and_dtype_choice(monkeypatch):
    monkeypatch.delenv("LATENT_STUDIO_CPU_DTYPE")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    assert choose_placement("cpu") == Placement(torch.device("cpu"), torch.float32)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)  # the CPU computes bf16 natively:
    chosen = choose_placement("cpu")  # float32 weights (embedding stays exact), decoding in bf16
    assert (chosen.dtype, chosen.decode_dtype, chosen.decoding) == (torch.float32, torch.bfloat16, torch.bfloat16)
    assert chosen.describe() == "cpu (float32, decoding in bfloat16)"
    assert choose_placement("cpu", "float32") == Placement(torch.device("cpu"), torch.float32)  # asked: everything
    assert choose_placement("cpu", "bf16").decoding == torch.bfloat16
    assert choose_placement("cpu", "float32", "bf16").decode_dtype == torch.bfloat16
    monkeypatch.setenv("LATENT_STUDIO_CPU_DTYPE", "fp32")  # the app's way to keep such a CPU in float32
    assert choose_placement("cpu") == Placement(torch.device("cpu"), torch.float32)
    monkeypatch.setenv("LATENT_STUDIO_CPU_DTYPE", "bfloat16")
    assert choose_placement("cpu") == Placement(torch.device("cpu"), torch.bfloat16)
    monkeypatch.setenv("LATENT_STUDIO_CPU_DTYPE", "int3")
    with pytest.raises(UserError, match="LATENT_STUDIO_CPU_DTYPE is 'int3'"):
        choose_placement("cpu")
    monkeypatch.delenv("LATENT_STUDIO_CPU_DTYPE")
    assert choose_placement("cpu", "bf16").dtype == torch.bfloat16
    with pytest.raises(UserError, match="Unknown precision"):
        choose_placement("cpu", "int3")
    with pytest.raises(UserError, match="Unknown device|not supported"):
        choose_placement("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            choose_placement("cuda")
        assert choose_placement().device.type in ("cpu", "mps")


def test_a_missing_file_under_a_local_folder_is_not_taken_for_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    with pytest.raises(ModelError, match="Checkpoint file models/sd/v1.safetensors does not exist"):
        resolve_model("models/sd/v1.safetensors")
