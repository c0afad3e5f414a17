"""Issue 14: how the shipped head turn got its eye-opening restore, without refitting the rest of it.

fit-demo-directions fits the restore with every head turn it fits (direction_fitting.with_restore); the shipped
head turn predates it, and refitting it whole would change every term the bench and evaluate-demo measured.
This adds just the restore to the shipped file, fitted exactly as eye_restore.py measured it (the same line to
1e-9), and says so in the file's info.

    python benchmarks/experiments/directions/add_restore.py
"""
from dataclasses import replace

from latent_studio.core.directions import save_direction
from latent_studio.demo.direction_fitting import with_restore
from latent_studio.engine.directions import model_directions
from latent_studio.engine.models import load_model

model = load_model("toy-heads", device="cpu")
turn = next(d for d in model_directions(model) if d.name == "Head turn")
if turn.restore is not None:
    raise SystemExit(f"the shipped head turn already restores {turn.restore.factor}")
restored = with_restore(model, turn, "eye_open", steps=50)
restored = replace(restored, info=dict(restored.info, restore=restored.info["restore"] + "; added to the shipped head "
                                       "turn by benchmarks/experiments/directions/add_restore.py"))
path = model.source.home / "directions" / "01_head_turn.safetensors"
save_direction(path, restored)
print(f"wrote {path}: {restored.info['restore']}")
