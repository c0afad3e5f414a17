"""`--batch auto`: the batch from free memory, with numbers injected; the probe and the RAM reading on this machine."""

import pytest
import torch

from latent_studio.engine.batch_size import CPU_CAP, CUDA_CAP, auto_batch, choose_batch, frame_bytes, free_memory

MB = 1024 * 1024
GB = 1024 * MB


@pytest.mark.parametrize("free, per_frame, device, expected", [
    (80 * GB, 500 * MB, "cuda", 64),  # an H100 and a big model: capped
    (20 * GB, 1 * GB, "cuda", 10),  # half of 20 GB at 1 GB a frame
    (3 * GB, 1 * GB, "cuda", 1),  # 1.5 GB of room: one frame
    (100 * MB, 1 * GB, "cuda", 1),  # less than one frame's worth: still one (out of memory then halves nothing)
    (24 * GB, 10 * MB, "cpu", CPU_CAP),  # plenty of RAM: the CPU cap
    (60 * MB, 10 * MB, "cpu", 3),  # a tight machine: what half its RAM holds
    (24 * GB, 417 * MB, "cpu", 4),  # a bigger model on a CPU: what CPU_BATCH_BYTES holds, not what RAM does
    (24 * GB, 2200 * MB, "cpu", 1),  # a 256x256 pixel UNet: one frame at a time
    (None, 2200 * MB, "cpu", 1),  # free memory unknown: the same cap
    (None, 10 * MB, "cpu", CPU_CAP),  # RAM unknown: the cap
    (None, 10 * MB, "cuda", CUDA_CAP),
    (64 * GB, 1, "mps", CPU_CAP),  # no CUDA: the CPU's cap
])
def test_choose_batch_from_free_memory(free, per_frame, device, expected):
    assert choose_batch(free, per_frame, device) == expected


def test_free_ram_is_read_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683520 kB\nMemFree:        21583872 kB\nMemAvailable:   23461888 kB\n")
    assert free_memory(torch.device("cpu"), meminfo) == 23461888 * 1024


def test_without_meminfo_the_system_is_asked(tmp_path):
    free = free_memory(torch.device("cpu"), tmp_path / "missing")
    assert free is None or free > 0


def test_the_probe_counts_one_frames_activations(untrained_model_dir):
    from latent_studio.engine.models import load_model

    trained_model = load_model(str(untrained_model_dir), device="cpu")
    per_frame = frame_bytes(trained_model)
    channels, height, width = trained_model.latent_shape
    assert per_frame > 8 * channels * height * width * 4  # many layers' outputs, each bigger than the input
    assert per_frame < 64 * MB  # the tiny model at 16x16
    assert 1 <= auto_batch(trained_model) <= CPU_CAP


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_cuda_probe_measures_the_peak(trained_model_dir):
    from latent_studio.engine.models import load_model

    model = load_model(str(trained_model_dir), device="cuda")
    assert 0 < frame_bytes(model) < 1 * GB
    assert 1 <= auto_batch(model) <= CUDA_CAP
