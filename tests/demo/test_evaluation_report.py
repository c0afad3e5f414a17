"""The evaluation report states each quality bar's verdict from the measured figures."""

import numpy as np

from latent_studio.demo.evaluation import REDUCED, DirectionTable, EmbeddingRow, Report, bar_verdicts, format_report
from latent_studio.demo.factors import FACTOR_NAMES


def _table(name: str, factor: str, own: np.ndarray, drift_glasses: np.ndarray) -> DirectionTable:
    strengths = np.linspace(-1, 1, len(own))
    means = np.zeros((len(own), len(FACTOR_NAMES)))
    means[:, FACTOR_NAMES.index(factor)] = own
    curves = {f: np.zeros(len(own)) for f in FACTOR_NAMES if f != factor}
    curves["glasses"] = drift_glasses
    return DirectionTable(name, factor, strengths, means, float(np.corrcoef(strengths, own)[0, 1]), float(np.ptp(own)),
                          bool(np.all(np.diff(own) > 0)), curves)


def _inversion(psnr_mean: float, seconds: float = 4.0) -> EmbeddingRow:
    return EmbeddingRow("inversion", psnr_mean, psnr_mean - 3, seconds, seconds / 4, 1.0, 0.01)


def test_bars_pass_and_fail_on_the_figures():
    report = Report(REDUCED, fd_samples=0.4, fd_floor=0.23, embedding=[_inversion(39.0)])
    report.directions = [
        _table("Head turn", "yaw", np.array([-40.0, 0.0, 40.0]), np.array([-20.0, 0.0, -5.0])),
        _table("Smile", "smile", np.array([-0.4, 0.0, 0.4]), np.array([1.0, 0.0, 2.0])),
    ]
    turn, smile = bar_verdicts(report)[4:]
    assert bar_verdicts(report)[:4] == ["samples FD <= 0.6 pass", "no grainy sample pass",
                                        "inversion PSNR >= 38 dB pass", "one image in <= 10 s pass"]
    assert "|r| >= 0.97 pass" in turn and "span >= 90 FAIL" in turn  # 80 degrees over the range
    assert "drift <= 15%, glasses <= 10% FAIL (glasses 20.0)" in turn
    assert "span >= 0.8 pass" in smile and "drift <= 15% pass" in smile
    text = format_report(report)
    assert "  glasses drift %    -20.0      0.0     -5.0" in text  # the failing factor's curve is shown
    assert text.splitlines()[-1].startswith("Quality bars: ")


def test_a_short_turn_low_psnr_grain_and_a_slow_embedding_fail():
    report = Report(REDUCED, fd_samples=2.2, grainy=3, embedding=[_inversion(25.0, seconds=12.0)])
    report.directions = [_table("Head turn", "yaw", np.array([-20.0, 0.0, 20.0]), np.zeros(3))]
    verdicts = bar_verdicts(report)
    assert all(v.endswith("FAIL") for v in verdicts[:4]) and "span >= 90 FAIL" in verdicts[4]


def test_the_head_turn_holds_glasses_tighter_than_the_other_factors():
    report = Report(REDUCED, embedding=[_inversion(39.0)])
    report.directions = [_table("Head turn", "yaw", np.array([-50.0, 0.0, 50.0]), np.array([-12.0, 0.0, 3.0])),
                         _table("Hair hue", "hair_hue", np.array([0.3, 0.5, 0.7]), np.array([-12.0, 0.0, 3.0]))]
    turn, hue = bar_verdicts(report)[4:]
    assert "span >= 90 pass" in turn and "glasses <= 10% FAIL (glasses 12.0)" in turn
    assert "drift <= 15% pass" in hue
    assert "  glasses drift %    -12.0      0.0      3.0" in format_report(report)


def test_the_embedding_table_has_one_row_per_method():
    report = Report(REDUCED, embedding=[_inversion(39.0), EmbeddingRow("network", 28.5, 24.0, 0.05, 0.01, 0.98, 0.02)])
    text = format_report(report)
    assert "  inversion       39.00   36.00     4.00    1.000  1.000 +0.010" in text
    assert "  network         28.50   24.00     0.05    0.010  0.980 +0.020" in text


def test_the_network_row_has_its_own_bar():
    fast_good = Report(REDUCED, embedding=[_inversion(39.0), EmbeddingRow("network", 29.0, 24.0, 0.05, 0.004, 1.0, 0.0)])
    slow_poor = Report(REDUCED, embedding=[_inversion(39.0), EmbeddingRow("network", 21.0, 18.0, 0.05, 0.030, 1.0, 0.0)])
    assert bar_verdicts(fast_good)[4] == "network PSNR >= 28 dB pass, <= 20 ms per image batched pass"
    assert bar_verdicts(slow_poor)[4] == "network PSNR >= 28 dB FAIL, <= 20 ms per image batched FAIL"


def test_the_glasses_change_is_reported_per_group_where_the_signed_drift_lets_them_cancel(monkeypatch):
    from latent_studio.core.directions import Direction
    from latent_studio.demo import evaluation

    wearing = np.array([True, True, False, False])
    g, yaw = FACTOR_NAMES.index("glasses"), FACTOR_NAMES.index("yaw")

    def read_along(model, regressor, heads, direction, strengths, steps, **kw):
        readings = np.zeros((len(strengths), len(heads), len(FACTOR_NAMES)))
        readings[..., yaw] = np.asarray(strengths)[:, None]
        away = np.abs(np.asarray(strengths))[:, None] / 60.0  # 0 at the source, 1 at either end
        readings[..., g] = np.where(wearing, 1.0 - 0.3 * away, 0.3 * away)  # wearers lose 30%, bare heads grow 30%
        return readings

    monkeypatch.setattr(evaluation, "read_along", read_along)
    turn = Direction("Head turn", np.zeros((3, 4, 4), np.float32), "binned", (-60.0, 60.0), "h" * 64, "degrees")
    sizes = evaluation.Sizes(heads=4, strengths=5, steps=2, batch=4)
    table = evaluation.direction_table(None, None, np.zeros((4, 3, 4, 4)), turn, "yaw", sizes, wearing=wearing)
    np.testing.assert_allclose(table.drift_curves["glasses"], 0.0, atol=1e-9)  # the signed mean sees nothing
    np.testing.assert_allclose(table.glasses_by_group["with glasses"], [30.0, 15.0, 0.0, 15.0, 30.0])
    np.testing.assert_allclose(table.glasses_by_group["without glasses"], [30.0, 15.0, 0.0, 15.0, 30.0])
    text = format_report(Report(REDUCED, directions=[table]))
    assert "  with glasses        30.0     15.0      0.0     15.0     30.0" in text
    assert not evaluation.direction_table(None, None, np.zeros((4, 3, 4, 4)), turn, "yaw", sizes).glasses_by_group


def test_a_head_that_jumps_shows_in_the_per_head_step_though_the_mean_curve_is_smooth(monkeypatch):
    from latent_studio.core.directions import Direction
    from latent_studio.demo import evaluation

    yaw = FACTOR_NAMES.index("yaw")
    flips = -52.5 + 15.0 * np.arange(8)  # each head snaps from -50 to +50 degrees at its own strength

    def read_along(model, regressor, heads, direction, strengths, steps, **kw):
        readings = np.zeros((len(strengths), len(heads), len(FACTOR_NAMES)))
        readings[..., yaw] = np.where(np.asarray(strengths)[:, None] >= flips[None], 50.0, -50.0)
        return readings

    monkeypatch.setattr(evaluation, "read_along", read_along)
    turn = Direction("Head turn", np.zeros((3, 4, 4), np.float32), "binned", (-60.0, 60.0), "h" * 64, "degrees")
    sizes = evaluation.Sizes(heads=8, strengths=9, steps=2, batch=4)
    table = evaluation.direction_table(None, None, np.zeros((8, 3, 4, 4)), turn, "yaw", sizes)
    assert table.monotonic and table.largest_step == 100.0  # the mean rises by 12.5 a step, every head by 100 once
    text = format_report(Report(REDUCED, directions=[table]))
    assert "largest yaw step between neighbouring strengths: median 100.00 (the mean curve's steps average 12.50" in text
