"""The main window's menus and its transport bar: which action calls what, with which shortcut."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QStyle

from latent_studio.ui.discovery_dialog import discover, discover_head_turn_flow
from latent_studio.ui.dialogs import show_about
from latent_studio.ui.timeline import ZOOM_STEP


def add_action(window, menu, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
    action = QAction(text, window, checkable=checkable)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ApplicationShortcut)
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menus(window) -> None:
    """File, Edit, View, Playback, Model and Help; the actions other code updates become window attributes."""
    bar = window.menuBar()

    def act(menu, text, slot, shortcut=None, checkable=False):
        return add_action(window, menu, text, slot, shortcut, checkable)

    file = bar.addMenu("&File")
    act(file, "&New", window.new_project, QKeySequence.New)
    act(file, "&Open…", window.open_dialog, QKeySequence.Open)
    window.recent_menu = file.addMenu("Open &Recent")
    window.examples_menu = file.addMenu("Open &Example")
    file.addSeparator()
    act(file, "&Save", window.save, QKeySequence.Save)
    act(file, "Save &As…", window.save_as, QKeySequence.SaveAs)
    file.addSeparator()
    act(file, "&Embed images…", window.flows.choose_images, "Ctrl+I")
    act(file, "Embed a &face with alignment…", window.flows.choose_face_to_align, "Ctrl+Shift+I")
    file.addSeparator()
    act(file, "Import a&udio…", window.audio.choose, "Ctrl+Shift+A")
    act(file, "Remove audio", window.audio.remove)
    file.addSeparator()
    window.export_action = act(file, "&Export…", window.export, "Ctrl+E")
    act(file, "Project se&ttings…", window.project_settings, "Ctrl+Alt+S")
    file.addSeparator()
    act(file, "&Quit", window.close, QKeySequence.Quit)
    file.aboutToShow.connect(window.fill_file_menus)

    edit = bar.addMenu("&Edit")
    window.undo_action = act(edit, "&Undo", window.undo, QKeySequence.Undo)
    window.redo_action = act(edit, "&Redo", window.redo, "Ctrl+Shift+Z")
    window.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    edit.addSeparator()
    act(edit, "&Preferences…", window.preferences_dialog, QKeySequence.Preferences)

    canvas = window.canvas
    view = bar.addMenu("&View")
    act(view, "&Fit to window", lambda: canvas.set_zoom(None), "Ctrl+0")
    act(view, "&Actual size", lambda: canvas.set_zoom(1.0), "Ctrl+1")
    act(view, "Zoom &in", lambda: canvas.zoom_by(1), QKeySequence.ZoomIn)
    act(view, "Zoom &out", lambda: canvas.zoom_by(-1), QKeySequence.ZoomOut)
    window.smooth_action = act(view, "&Smooth upscaling", canvas.set_smooth, checkable=True)
    view.addSeparator()
    timeline = window.timeline
    act(view, "Timeline: zoom in", lambda: timeline.zoom(ZOOM_STEP), "Alt+=")
    act(view, "Timeline: zoom out", lambda: timeline.zoom(1 / ZOOM_STEP), "Alt+-")
    act(view, "Timeline: &whole length", timeline.show_whole_length, "Alt+0")
    window.snap_beats_action = act(view, "Snap keyframes to &beats", lambda on: setattr(timeline, "snap_to_beats", on),
                                   checkable=True)
    window.fill_cache_action = act(view, "&Fill the cache when idle", window.set_fill_cache, checkable=True)
    window.fill_cache_action.setChecked(window.cache_fill.enabled)
    view.addSeparator()
    for dock in (window.assets_dock, window.directions_dock, window.map_dock, window.timeline_dock, window.curves_dock,
                 window.jobs_dock):
        view.addAction(dock.toggleViewAction())
    act(view, "&Reset layout", window.reset_layout)

    session, playback = window.session, window.playback
    play = bar.addMenu("&Playback")
    window.play_action = act(play, "&Play / pause", playback.toggle, Qt.Key_Space)
    window.loop_action = act(play, "&Loop", lambda on: setattr(playback, "loop", on), checkable=True)
    window.loop_action.setChecked(True)
    act(play, "Go to &start", lambda: session.set_frame(0), Qt.Key_Home)
    act(play, "Go to &end", lambda: session.set_frame(session.frame_count - 1), Qt.Key_End)
    act(play, "Previous frame", lambda: session.set_frame(session.frame - 1), Qt.Key_Left)
    act(play, "Next frame", lambda: session.set_frame(session.frame + 1), Qt.Key_Right)
    play.addSeparator()
    act(play, "Set &in point", window.timeline.set_in_point, Qt.Key_I)
    act(play, "Set &out point", window.timeline.set_out_point, Qt.Key_O)
    act(play, "&Clear in and out points", window.timeline.clear_work_range, "Alt+X")
    play.addSeparator()
    act(play, "&Key the last slider used", window.directions.toggle_key, Qt.Key_K)
    act(play, "&Delete selected keyframes", window.timeline.delete_selection)

    model = bar.addMenu("&Model")
    act(model, "&Choose model…", window.models.choose)
    act(model, "&Discover directions…", lambda: window.spawn(discover(window), "Discover directions"))
    act(model, "Discover &head turn", lambda: window.spawn(discover_head_turn_flow(window), "Discover head turn"))
    act(model, "&Update directions from the model", window.models.update_directions)
    help_menu = bar.addMenu("&Help")
    act(help_menu, "&About Latent Studio", lambda: show_about(window, window.models.describe()))
    act(help_menu, "Open &log folder", window.open_log_folder)


def build_transport(window) -> None:
    """Play, loop, start / previous / next / end, and the frame readout, above the timeline."""
    session, transport = window.session, window.transport
    transport.addAction(window.play_action)
    transport.addAction(window.loop_action)
    transport.addSeparator()
    icon = window.style().standardIcon
    window.play_action.setIcon(icon(QStyle.SP_MediaPlay))
    transport.addAction(icon(QStyle.SP_MediaSkipBackward), "Start (Home)", lambda: session.set_frame(0))
    transport.addAction(icon(QStyle.SP_MediaSeekBackward), "Previous frame (Left)",
                        lambda: session.set_frame(session.frame - 1))
    transport.addAction(icon(QStyle.SP_MediaSeekForward), "Next frame (Right)",
                        lambda: session.set_frame(session.frame + 1))
    transport.addAction(icon(QStyle.SP_MediaSkipForward), "End (End)",
                        lambda: session.set_frame(session.frame_count - 1))
    transport.addSeparator()
    window.frame_label = QLabel()
    transport.addWidget(window.frame_label)

    def show_playing(playing: bool) -> None:
        window.play_action.setText("Pause" if playing else "Play")
        window.play_action.setIcon(icon(QStyle.SP_MediaPause if playing else QStyle.SP_MediaPlay))

    window.playback.playing_changed.connect(show_playing)
    show_playing(False)
