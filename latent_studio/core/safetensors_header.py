"""The string metadata of a safetensors file (its JSON header's ``__metadata__``)."""

from __future__ import annotations

import json
import struct


def read_metadata(data: bytes) -> dict[str, str]:
    """Raises ValueError for bytes that do not start with a safetensors header."""
    if len(data) < 8:
        raise ValueError("too short for a safetensors header")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise ValueError("header length beyond the end of the file")
    header = json.loads(data[8 : 8 + length])
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    return dict(header.get("__metadata__", {}) or {})
