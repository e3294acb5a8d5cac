"""docs/config.md is generated from the schema and the components' options; it must match the code."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from mspgsen.config_reference import field_comments, render

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_docs_config_md_is_up_to_date():
    assert DOC.read_text() == render(), ("docs/config.md is out of date: run `make docs` "
                                         "(python -m mspgsen.config_reference > docs/config.md) and commit it")


def test_every_key_has_a_meaning_and_default():
    text = render()
    rows = [ln for ln in text.splitlines() if ln.startswith("| `")]
    assert len(rows) > 100
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert len(cells) == 4 and cells[2] and cells[3], row


def test_comments_are_read_from_the_dataclass_source():
    @dataclasses.dataclass
    class Opts:
        a: int = 1  # The first.
        b: str = "x"  # The second,
        # continued on the next line.
        c: float = 0.5

    notes = field_comments(Opts)
    assert notes["a"] == "The first." and notes["b"] == "The second, continued on the next line." and "c" not in notes
