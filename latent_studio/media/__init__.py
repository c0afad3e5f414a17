"""Image I/O (Pillow) and, later, video / frame-sequence export (PyAV). No torch, no Qt."""
