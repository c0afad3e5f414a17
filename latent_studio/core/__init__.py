"""Pure Python + numpy: documents, latent math, file formats. Never imports torch or Qt."""
