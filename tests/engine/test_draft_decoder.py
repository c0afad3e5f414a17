"""The draft decoder: one pass from x_T to the final picture, trained on the model's own pairs, saved beside it,
used wherever a draft is asked for by DRAFT_PASS steps."""

import json
import shutil

import numpy as np
import pytest

from latent_studio.cli import main
from latent_studio.core.errors import ModelError, UserError
from latent_studio.core.metrics import psnr
from latent_studio.core.seeds import noise_latent
from latent_studio.engine.decode import decode, decode_draft
from latent_studio.engine.draft_decoder import DRAFT_PASS
from latent_studio.engine.draft_training import DraftRecipe, new_draft_decoder, save_draft_decoder, train_draft_decoder
from latent_studio.engine.embedder_training import sample_pairs
from latent_studio.engine.models import load_model

STEPS = 10
RECIPE = DraftRecipe(pairs=96, steps=STEPS, training_steps=400, batch=16, learning_rate=3e-3, held_out=8)


@pytest.fixture(scope="module")
def model_with_draft(trained_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("draft") / "model"
    shutil.copytree(trained_model_dir, folder)
    model = load_model(str(folder), device="cpu")
    assert model.draft is None
    draft = train_draft_decoder(model, RECIPE, sample_pairs(model, RECIPE.pairs, STEPS))
    save_draft_decoder(draft, folder)
    return load_model(str(folder), device="cpu"), draft.info


def _unseen(model, count=6):
    latents = np.stack([noise_latent(500 + i, model.latent_shape) for i in range(count)])
    return latents, decode(model, latents, STEPS)


def test_the_draft_decoder_is_saved_beside_the_model_and_loaded_with_it(model_with_draft):
    model, info = model_with_draft
    assert model.draft is not None and model.draft.steps == STEPS and model.draft.model_hash == model.content_hash
    assert model.draft.prediction_type == "sample"  # the tiny model predicts epsilon: its copy learns the picture
    saved = json.loads((model.source.folder / "draft" / "draft.json").read_text())
    assert saved["held_out_psnr_mean"] == pytest.approx(info["held_out_psnr_mean"])


def test_training_makes_the_one_pass_picture_close_to_the_final_one(model_with_draft, trained_model):
    model, _ = model_with_draft
    latents, finals = _unseen(model)
    trained = np.mean([psnr(a, b) for a, b in zip(decode(model, latents, DRAFT_PASS), finals)])
    untrained = np.mean([psnr(a, b) for a, b in zip(decode_draft(model, new_draft_decoder(trained_model, STEPS),
                                                                 latents), finals)])
    one_step = np.mean([psnr(a, b) for a, b in zip(decode(model, latents, 1), finals)])
    # the tiny model's 10-step pictures are a chaotic function of the noise, and 88 pairs are few: a modest,
    # certain gain here; the bundled model's test below holds the real bar
    assert trained > untrained + 2.0 and trained > one_step + 1.5, (trained, untrained, one_step)


def test_a_model_without_one_says_so_in_a_sentence(trained_model):
    with pytest.raises(UserError, match="has no draft decoder"):
        decode(trained_model, noise_latent(1, trained_model.latent_shape), DRAFT_PASS)


def test_a_draft_decoder_for_other_weights_is_ignored_and_a_damaged_one_is_a_sentence(model_with_draft, tmp_path):
    model, _ = model_with_draft
    folder = tmp_path / "model"
    shutil.copytree(model.source.folder, folder)
    info_path = folder / "draft" / "draft.json"
    info_path.write_text(json.dumps({**json.loads(info_path.read_text()), "model_hash": "f" * 64}))
    assert load_model(str(folder), device="cpu").draft is None
    info_path.write_text(json.dumps({**json.loads(info_path.read_text()), "model_hash": model.content_hash}))
    weights = folder / "draft" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelError, match="draft decoder .* is damaged"):
        load_model(str(folder), device="cpu")


def test_train_draft_on_the_command_line_writes_it_once(trained_model_dir, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(trained_model_dir, folder)
    args = ["train-draft", "--model", str(folder), "--device", "cpu", "--pairs", "64", "--steps", "4",
            "--training-steps", "5", "--batch", "16"]
    assert main(args) == 0, capsys.readouterr().err
    assert "held-out drafts against 4 steps" in capsys.readouterr().out
    assert load_model(str(folder), device="cpu").draft.steps == 4
    assert main(args) == 2 and "already holds a draft decoder; pass --force" in capsys.readouterr().err


def test_the_bundled_model_drafts_in_one_pass_close_to_its_final_frames():
    model = load_model("toy-heads", device="cpu")
    latents = np.stack([noise_latent(seed, model.latent_shape) for seed in (3, 11)])
    finals = decode(model, latents, 50)
    drafts = [psnr(a, b) for a, b in zip(decode(model, latents, DRAFT_PASS), finals)]
    four_steps = [psnr(a, b) for a, b in zip(decode(model, latents, 4), finals)]
    assert min(drafts) >= 24.0 and min(drafts) > max(four_steps) + 3.0, (drafts, four_steps)


def test_train_draft_can_start_from_the_draft_an_earlier_model_had(model_with_draft, trained_model_dir, tmp_path, capsys):
    """--init-from: a draft retrained after its model was fine-tuned starts from the old draft, not the UNet."""
    import torch

    old, _ = model_with_draft
    folder = tmp_path / "model"
    shutil.copytree(trained_model_dir, folder)
    model = load_model(str(folder), device="cpu")
    still = DraftRecipe(pairs=24, steps=STEPS, training_steps=1, batch=8, learning_rate=0.0, held_out=8,
                        init_from=str(old.source.folder))
    draft = train_draft_decoder(model, still, sample_pairs(model, still.pairs, STEPS))
    for name, value in old.draft.unet.state_dict().items():
        torch.testing.assert_close(draft.unet.state_dict()[name].to(value.dtype), value)
    args = ["train-draft", "--model", str(folder), "--device", "cpu", "--pairs", "64", "--steps", "4",
            "--training-steps", "2", "--batch", "16", "--init-from", str(trained_model_dir)]
    assert main(args) == 2 and "There is no draft decoder in" in capsys.readouterr().err


def test_the_embedding_network_also_learns_from_the_draft_decoders_picture(model_with_draft):
    """train-embedder's picture loss: the draft decoder's one-pass picture of the predicted latent against the image,
    weighted and added to the latent error; the draft decoder is only the judge and does not change."""
    import dataclasses

    import torch

    from latent_studio.engine.ddim import from_uint8
    from latent_studio.engine.embedder import build_embedder_unet
    from latent_studio.engine.embedder_training import EmbedderRecipe, train_embedder

    model, _ = model_with_draft
    pairs = sample_pairs(model, 24, STEPS)
    before = {k: v.clone() for k, v in model.draft.unet.state_dict().items()}
    still = EmbedderRecipe(pairs=24, steps=STEPS, training_steps=1, batch=8, learning_rate=0.0,
                           channels=(8, 8, 16, 16), held_out=8, picture_weight=0.0)
    _, plain = train_embedder(model, still, pairs)
    _, judged = train_embedder(model, dataclasses.replace(still, picture_weight=5.0), pairs)
    assert plain["picture_loss"].startswith("none") and judged["picture_loss"] == "the draft decoder's picture"

    # the same first batch through the same starting network: the two losses differ by exactly the weighted picture error
    torch.manual_seed(still.seed)
    network = build_embedder_unet(model.image_size[0], model.latent_shape[0], still.channels)
    index = torch.randint(0, 16, (still.batch,), generator=torch.Generator().manual_seed(still.seed))
    images = from_uint8(torch.from_numpy(pairs.images[:16]))[index]
    with torch.no_grad():
        predicted = network(images, torch.zeros(still.batch, dtype=torch.long)).sample
        picture_error = torch.nn.functional.mse_loss(model.draft.clean(predicted), images).item()
    assert judged["final_loss"] - plain["final_loss"] == pytest.approx(5.0 * picture_error, rel=1e-4)
    _, other = train_embedder(model, dataclasses.replace(still, picture_weight=5.0), pairs, pictures=pairs.images[16:])
    assert other["picture_loss"] == "the draft decoder's picture, of 8 other images"
    assert other["final_loss"] != judged["final_loss"]  # judged on the other images, not the batch's own
    for name, value in model.draft.unet.state_dict().items():
        torch.testing.assert_close(value, before[name])
