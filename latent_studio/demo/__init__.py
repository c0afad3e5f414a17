"""The bundled demo model: procedural "toy heads" with known factors, its training recipe and evaluation."""
