"""Escapes in quoted YAML text that make no character: refused where they are written, before anything can
carry them to the engine, a response or a log line (they cannot be encoded as UTF-8)."""

from __future__ import annotations

import pytest

from service.engine.bundle import check_bundle
from tests.engine.conftest import BundleCopy


@pytest.mark.parametrize(
    ("name", "old", "new", "said"),
    [
        ("bundle.yaml", "LOW_SCORE: ", 'LOW_SCORE: "half \\ud800 a pair" # ', "only half of a character"),
        ("fraud.yaml", "description: The fourth drawdown within an hour", 'description: "x \\udfff"',
         "only half of a character"),
        ("fraud.yaml", "id: FRD-001", 'id: "FRD-\\ud800"', "only half of a character"),
        ("fraud.yaml", "description: The fourth drawdown within an hour", 'description: "x \\UFFFFFFFF"',
         "an escape \\U names a character that does not exist"),
    ],
)
def test_an_escape_that_makes_no_character_is_refused_where_it_is_written(
    bundle_copy: BundleCopy, name: str, old: str, new: str, said: str
) -> None:
    bundle_copy.replace(name, old, new)
    problems = check_bundle(bundle_copy.dir)
    assert [(p.code, p.file, p.line) for p in problems] == [("R001", f"rules/{name}", bundle_copy.line_of(name, new))]
    assert said in problems[0].message and problems[0].hint


def test_a_misindented_key_is_explained_in_words(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "    then: {outcome: REVIEW, flag: VELOCITY_HOURLY",
                        "   then: {outcome: REVIEW, flag: VELOCITY_HOURLY")
    (problem,) = check_bundle(bundle_copy.dir)
    assert problem.message == ("not valid YAML: expected the end of an indented block, but found the start of an "
                               "indented mapping")
    assert problem.hint == "check the indentation of this line against the lines above"
