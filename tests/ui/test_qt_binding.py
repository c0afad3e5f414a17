"""The installed Qt binding must not corrupt Python's reference counts (it decides whether long sessions survive)."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtWidgets import QLabel


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12; its count cannot drop")
def test_void_calls_do_not_drop_references_to_none(qapp):
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
        label.setVisible(False)
    assert abs(sys.getrefcount(None) - before) < 200, (
        "this PySide6 build leaks references to None (6.12.0 does on Python < 3.12); the app would abort after a while")
