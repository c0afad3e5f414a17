"""Latent Studio: creative latent editing with diffusion models."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("latent-studio")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
