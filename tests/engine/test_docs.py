"""docs/rules.md shows the field catalogue and the problem codes exactly as the code defines them."""

from __future__ import annotations

from service.engine.catalogue import FIELDS
from service.engine.docs import render_docs
from service.engine.problems import ALL_CODES
from tests.engine.conftest import ROOT

DOC = ROOT / "docs" / "rules.md"


def test_generated_sections_are_up_to_date() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render_docs(text) == text, "run: python -m service.engine.docs docs/rules.md"


def test_every_field_and_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert all(f"| `{name}` |" in text for name in FIELDS)
    assert all(f"| {code.code} |" in text for code in ALL_CODES)


def test_codes_are_unique() -> None:
    assert len({c.code for c in ALL_CODES}) == len(ALL_CODES)
