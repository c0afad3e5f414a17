"""`latent-studio --self-test` checks an installation end to end and says so line by line."""

from __future__ import annotations

from latent_studio.cli import main


def test_self_test_passes_on_this_installation(capsys):
    assert main(["--self-test"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(("ok", "FAIL"))]
    assert len(lines) == 6 and all(line.startswith("ok") for line in lines), out
    assert "write and read an MP4: 6 frames, h264" in out and out.rstrip().endswith("self-test passed")


def test_self_test_fails_loudly_without_resources(capsys, monkeypatch, tmp_path):
    from latent_studio.core import resources

    monkeypatch.setattr(resources, "resources_dir", lambda: None)
    assert main(["--self-test"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  resources: RuntimeError: no resources folder found" in out
    assert "self-test FAILED" in out
