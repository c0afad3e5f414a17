"""A dark theme for long sessions in front of images, and the system's light one."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("dark", "light")

ACCENT = QColor(255, 170, 60)  # keyframes, playhead
SELECTED = QColor(90, 170, 255)

_STYLE = """
QDockWidget::title { padding: 4px 6px; background: palette(window); font-weight: 600; }
QToolBar { spacing: 4px; border: none; }
QStatusBar QLabel { padding: 0 6px; }
QLabel#banner { background: #7a2b2b; color: white; padding: 6px 10px; border-radius: 3px; }
QLabel#hint { color: palette(placeholder-text); }
"""


def apply_theme(app: QApplication, theme: str) -> None:
    app.setStyle("Fusion")
    if theme == "light":
        app.setPalette(app.style().standardPalette())
    else:
        app.setPalette(dark_palette())
    app.setStyleSheet(_STYLE)


def dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(220, 220, 220)
    for role, colour in [
        (QPalette.Window, window), (QPalette.WindowText, text), (QPalette.Base, base),
        (QPalette.AlternateBase, QColor(38, 38, 40)), (QPalette.ToolTipBase, window), (QPalette.ToolTipText, text),
        (QPalette.Text, text), (QPalette.Button, QColor(58, 58, 62)), (QPalette.ButtonText, text),
        (QPalette.BrightText, QColor(255, 80, 80)), (QPalette.Highlight, QColor(60, 120, 200)),
        (QPalette.HighlightedText, QColor(255, 255, 255)), (QPalette.Link, SELECTED),
        (QPalette.PlaceholderText, QColor(140, 140, 140)), (QPalette.Mid, QColor(70, 70, 74)),
        (QPalette.Dark, QColor(25, 25, 27)), (QPalette.Light, QColor(80, 80, 84)),
    ]:
        p.setColor(role, colour)
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        p.setColor(QPalette.Disabled, role, QColor(120, 120, 120))
    return p
