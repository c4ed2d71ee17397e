"""An amount with a comma inside `{ }`, the style the bundled test files use: YAML ends the entry at the comma, so
the case is refused saying so, at the amount, never as an unknown field named after the amount's tail."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cli import main
from tests.rules.test_explain import RULES


@pytest.mark.parametrize(("amount", "said"), [
    ("300000,00 CNY", "applicant.annual_income: '300000,00 CNY' is cut at its comma: inside { } a comma ends the "
     "entry; it has a comma that is not a thousands separator (fix: write the decimal point as '.': 300000.00 CNY)"),
    ("300,000.00 CNY", "applicant.annual_income: '300,000.00 CNY' is cut at its comma: inside { } a comma ends the "
     "entry (fix: write the amount in quotes: '300,000.00 CNY')"),
])
def test_an_amount_cut_at_its_comma_inside_braces_is_refused_at_the_amount(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], amount: str, said: str
) -> None:
    case = tmp_path / "case.yaml"
    case.write_text(f"call: GrantLimit\napplicant: {{annual_income: {amount}, age: 30}}\n")
    assert main(["rules", "explain", RULES, "--input", str(case)]) == 1
    out = capsys.readouterr().out
    assert out == f"{case}:2: cannot explain this input: {said}\n"


def test_the_same_amount_in_quotes_is_read_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "case.yaml"
    case.write_text("call: GrantLimit\napplicant: {annual_income: '300,000.00 CNY', age: 30}\n")
    assert main(["rules", "explain", RULES, "--input", str(case)]) == 0
    assert "limit granted: 100000.00 CNY" in capsys.readouterr().out
