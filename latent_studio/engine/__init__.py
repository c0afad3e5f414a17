"""torch + diffusers: model loading, DDIM decode, inversion. Never imports Qt.

Import it lazily (``from latent_studio.engine import models`` inside a
function): torch takes seconds to import and the CLI's --help should not wait.
"""
