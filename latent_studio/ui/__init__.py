"""The desktop app (PySide6): views and controllers over the headless app layer. The only layer that imports Qt."""
