"""The training recipe: loss falls, a resumed run equals an uninterrupted one, the export loads."""

import numpy as np
import pytest
import torch

from latent_studio.core.cancel import CancelToken
from latent_studio.core.errors import Cancelled, UserError
from latent_studio.demo.data import (
    HELD_OUT_IDENTITY_START,
    HELD_OUT_STREAM,
    TRAIN_STREAM,
    Prefetcher,
    rendered_batch,
)
from latent_studio.demo.training import (
    CHECKPOINT,
    Recipe,
    export_model,
    learning_rate,
    train,
)
from latent_studio.engine.decode import decode
from latent_studio.engine.models import load_model

TINY = Recipe(
    resolution=16, block_out_channels=(8, 16), layers_per_block=1, attention_levels=(1,), norm_num_groups=4,
    steps=6, batch_size=4, warmup_steps=2, checkpoint_every=2, learning_rate=1e-3,
)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resumed_run_ends_with_the_same_weights(tmp_path):
    straight, _ = train(TINY, tmp_path / "a", workers=0)
    train(TINY, tmp_path / "b", workers=0, stop_after=4)
    resumed, state = train(TINY, tmp_path / "b", workers=0)
    assert state.step == TINY.steps
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_pooled_recipe_resumes_bit_identically_and_reuses_its_pool(tmp_path, monkeypatch):
    from latent_studio.demo import data

    pooled = Recipe(**{**TINY.__dict__, "pool_batches": 2})
    rendered: list[int] = []
    original = data.rendered_batch
    monkeypatch.setattr(data, "rendered_batch", lambda *a, **k: rendered.append(a[2]) or original(*a, **k))
    straight, _ = train(pooled, tmp_path / "a", workers=0)
    assert sorted(rendered) == [0, 1]  # six steps, two batches rendered once each
    train(pooled, tmp_path / "b", workers=0, stop_after=3)
    resumed, _ = train(pooled, tmp_path / "b", workers=0)
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_time_limit_stops_with_a_checkpoint_that_resumes(tmp_path):
    _, state = train(TINY, tmp_path, workers=0, time_limit=0)
    assert state.step == 1  # one step always runs, then the limit ends the run
    _, resumed = train(TINY, tmp_path, workers=0, stop_after=0)
    assert resumed.step == 1  # the checkpoint was written at the odd step the limit fell on


def test_resume_refuses_another_recipe(tmp_path):
    train(TINY, tmp_path, workers=0, stop_after=2)
    other = Recipe(**{**TINY.__dict__, "block_out_channels": (8, 8)})
    with pytest.raises(UserError, match="another recipe"):
        train(other, tmp_path, workers=0)


def test_cancel_keeps_the_last_checkpoint(tmp_path):
    token = CancelToken()

    def progress(step, total, loss, seconds):
        if step == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        train(TINY, tmp_path, workers=0, progress=progress, cancel=token)
    assert (tmp_path / CHECKPOINT).is_file()
    _, state = train(TINY, tmp_path, workers=0, stop_after=0)
    assert state.step == 2  # the checkpoint written at step 2 survives; nothing half-written


def test_export_is_a_loadable_model_with_a_card(tmp_path):
    ema, state = train(TINY, tmp_path / "work", workers=0)
    folder = export_model(ema, TINY, state, tmp_path / "toy", "test CPU")
    model = load_model(str(folder), device="cpu")
    assert model.latent_shape == (3, 16, 16)
    assert model.weights_file.stat().st_size < 200_000  # float16
    assert decode(model, np.zeros((3, 16, 16), np.float32) + 0.1, 3).shape == (1, 16, 16, 3)
    card = (folder / "README.md").read_text()
    assert "6 of 6 steps" in card and "test CPU" in card
    assert not (tmp_path / "toy.partial").exists()


def test_learning_rate_schedule():
    recipe = Recipe(steps=1000, warmup_steps=100, learning_rate=1.0)
    assert learning_rate(recipe, 0) == pytest.approx(0.01)
    assert learning_rate(recipe, 99) == pytest.approx(1.0)
    assert learning_rate(recipe, 999) == pytest.approx(0.1, abs=1e-3)


def test_batches_are_pure_functions_and_held_out_identities_are_disjoint():
    a = rendered_batch(0, TRAIN_STREAM, 5, 16, 3)
    np.testing.assert_array_equal(a.images, rendered_batch(0, TRAIN_STREAM, 5, 16, 3).images)
    held = rendered_batch(0, HELD_OUT_STREAM, 5, 16, 3)
    assert (a.identities < HELD_OUT_IDENTITY_START).all() and (held.identities >= HELD_OUT_IDENTITY_START).all()
    with Prefetcher(0, 16, 3, 2, workers=1) as prefetch:
        np.testing.assert_array_equal(prefetch.get(5).images, a.images)
        np.testing.assert_array_equal(prefetch.get(6).images, rendered_batch(0, TRAIN_STREAM, 6, 16, 3).images)


@pytest.mark.slow
def test_loss_falls(tmp_path):
    # Epsilon: its loss starts near 1 and falls fast, so 60 steps show the loop learns.
    recipe = Recipe(**{**TINY.__dict__, "steps": 60, "batch_size": 8, "checkpoint_every": 60,
                       "prediction_type": "epsilon"})
    _, state = train(recipe, tmp_path, workers=0)
    losses = state.recent_losses  # one per step
    assert len(losses) == 60
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:5])


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_the_training_target_is_what_the_engine_reads_back(prediction_type):
    """Decoding interprets the UNet's output with split_prediction; the target must mean the same thing."""
    from latent_studio.demo.training import training_target
    from latent_studio.engine.ddim import split_prediction

    generator = torch.Generator().manual_seed(0)
    clean, noise = torch.randn(2, 3, 4, 4, generator=generator).unbind(0)
    for alpha in (0.999, 0.5, 0.002):
        a = torch.tensor(alpha)
        noisy = a.sqrt() * clean + (1 - a).sqrt() * noise
        target = training_target(Recipe(prediction_type=prediction_type), clean, noise, a)
        got_clean, got_noise = split_prediction(target, noisy, alpha, prediction_type)
        torch.testing.assert_close(got_clean, clean, rtol=1e-4, atol=1e-4 / alpha**0.5)
        torch.testing.assert_close(got_noise, noise, rtol=1e-4, atol=1e-4 / (1 - alpha) ** 0.5)


def test_a_fine_tune_starts_from_the_given_model_and_records_it(tmp_path):
    ema, state = train(TINY, tmp_path / "work", workers=0)
    source = export_model(ema, TINY, state, tmp_path / "source", "test CPU")
    v_recipe = Recipe(**{**TINY.__dict__, "prediction_type": "v_prediction"})
    start, started = train(v_recipe, tmp_path / "fine", workers=0, init_from=source, stop_after=0)
    exported = load_model(str(source), device="cpu").family.unet.state_dict()
    assert all(torch.equal(start.state_dict()[k], exported[k].float()) for k in exported)
    assert started.initialised_from.startswith("source")
    fine, state = train(v_recipe, tmp_path / "fine", workers=0, init_from=source)
    folder = export_model(fine, v_recipe, state, tmp_path / "v", "test CPU")
    card = (folder / "README.md").read_text()
    assert "v-prediction (no clip_sample)" in card and "initialised from source" in card
    config = load_model(str(folder), device="cpu").scheduler_config
    assert config["prediction_type"] == "v_prediction" and not config["clip_sample"]


def test_a_fine_tune_refuses_a_model_of_another_architecture(tmp_path):
    ema, state = train(TINY, tmp_path / "work", workers=0)
    source = export_model(ema, TINY, state, tmp_path / "source", "test CPU")
    other = Recipe(**{**TINY.__dict__, "block_out_channels": (8, 8)})
    with pytest.raises(UserError, match="do not fit"):
        train(other, tmp_path / "fine", workers=0, init_from=source)


def test_checkpoints_from_before_the_prediction_type_read_as_epsilon_with_clip():
    import json

    old = json.loads(TINY.as_json())
    del old["prediction_type"], old["clip_sample"]
    recipe = Recipe.from_json(json.dumps(old))
    assert recipe.prediction_type == "epsilon" and recipe.clip_sample


def test_train_demo_takes_another_architecture_on_the_command_line(tmp_path, capsys):
    """--channels, --layers-per-block, --attention-levels: the next model's shape without editing code."""
    import json

    from latent_studio.cli import main

    base = ["train-demo", "--recipe", "cpu", "--device", "cpu", "--steps", "2", "--batch", "2", "--pool-batches", "0",
            "--workers", "0", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "toy"), "--export"]
    assert main(base + ["--channels", "24,48", "--attention-levels", "1", "--layers-per-block", "1"]) == 0, capsys.readouterr().err
    config = json.loads((tmp_path / "toy" / "unet" / "config.json").read_text())
    assert config["block_out_channels"] == [24, 48] and config["norm_num_groups"] == 8
    assert config["down_block_types"] == ["DownBlock2D", "AttnDownBlock2D"] and config["layers_per_block"] == 1
    assert load_model(str(tmp_path / "toy"), device="cpu").latent_shape == (3, 64, 64)
    assert main(base + ["--channels", "24,48", "--attention-levels", "3", "--no-resume"]) == 2
    assert "names a level the UNet does not have (it has 2: 0 to 1)" in capsys.readouterr().err
