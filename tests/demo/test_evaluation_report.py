"""The evaluation report states each quality bar's verdict from the measured figures."""

import numpy as np

from latent_studio.demo.evaluation import REDUCED, DirectionTable, Report, bar_verdicts, format_report
from latent_studio.demo.factors import FACTOR_NAMES


def _table(name: str, factor: str, own: np.ndarray, drift_glasses: np.ndarray) -> DirectionTable:
    strengths = np.linspace(-1, 1, len(own))
    means = np.zeros((len(own), len(FACTOR_NAMES)))
    means[:, FACTOR_NAMES.index(factor)] = own
    curves = {f: np.zeros(len(own)) for f in FACTOR_NAMES if f != factor}
    curves["glasses"] = drift_glasses
    return DirectionTable(name, factor, strengths, means, float(np.corrcoef(strengths, own)[0, 1]), float(np.ptp(own)),
                          bool(np.all(np.diff(own) > 0)), curves)


def test_bars_pass_and_fail_on_the_figures():
    report = Report(REDUCED, psnr_mean=31.0)
    report.directions = [
        _table("Head turn", "yaw", np.array([-40.0, 0.0, 40.0]), np.array([-20.0, 0.0, -5.0])),
        _table("Smile", "smile", np.array([-0.5, 0.0, 0.5]), np.array([1.0, 0.0, 2.0])),
    ]
    turn, smile = bar_verdicts(report)[1:]
    assert bar_verdicts(report)[0] == "embedding PSNR >= 30 dB pass"
    assert "span >= 60 degrees pass" in turn and "drift <= 15% FAIL (glasses 20.0)" in turn
    assert "span" not in smile and "drift <= 15% pass" in smile
    text = format_report(report)
    assert "  glasses drift %    -20.0      0.0     -5.0" in text  # the failing factor's curve is shown
    assert text.splitlines()[-1].startswith("Quality bars: ")


def test_a_short_turn_and_low_psnr_fail():
    report = Report(REDUCED, psnr_mean=25.0)
    report.directions = [_table("Head turn", "yaw", np.array([-20.0, 0.0, 20.0]), np.zeros(3))]
    verdicts = bar_verdicts(report)
    assert verdicts[0].endswith("FAIL") and "span >= 60 degrees FAIL" in verdicts[1]
