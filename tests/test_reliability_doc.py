"""docs/reliability.md makes only promises a test backs: every test it names exists."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`|`::(\w+)`")


def cited_tests() -> list[tuple[str, str | None]]:
    """(file, test) pairs in the order cited; a bare `::name` belongs to the file cited last."""
    cited, current = [], None
    for match in CITATION.finditer((ROOT / "docs" / "reliability.md").read_text()):
        file, name, bare = match.groups()
        current = file or current
        cited.append((current, name or bare))
    return cited


def test_every_test_the_reliability_promises_name_exists():
    cited = cited_tests()
    assert len(cited) > 30  # the document is read, not skipped
    missing = []
    for file, name in cited:
        path = ROOT / file
        if not path.is_file():
            missing.append(file)
            continue
        defined = {node.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)}
        if name is not None and name not in defined:
            missing.append(f"{file}::{name}")
    assert missing == []
