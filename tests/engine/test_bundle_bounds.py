"""bundle.yaml's numbers and attributes held to what the service can take: a whole number of thousands of digits is
out of range at its line (Python would not even read it: the checker failed with an internal error naming no
file), and a bundle may declare no more applicant attributes than a request may carry (64: one declaring 80
passed the checker, and a request sending them all was refused)."""

from __future__ import annotations

from service.engine.bundle import check_bundle
from tests.engine.conftest import BundleCopy


def problems(bundle_copy: BundleCopy) -> list[tuple[str, str, int | None, str]]:
    return [(p.code, p.file, p.line, p.message) for p in check_bundle(bundle_copy.dir) if p.code.startswith("R")]


def test_a_whole_number_of_thousands_of_digits_is_out_of_range_at_its_line(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("bundle.yaml", "max: 950", "max: " + "9" * 5000)
    assert problems(bundle_copy) == [(
        "R006", "rules/bundle.yaml", bundle_copy.line_of("bundle.yaml", "max: 999"),
        "the maximum score must be between 0 and 10000, not a number of 5,000 digits")]


def test_a_bundle_declares_no_more_attributes_than_a_request_may_carry(bundle_copy: BundleCopy) -> None:
    declared = "".join(f"  extra_{n}:\n    type: int\n    default: 0\n" for n in range(64))
    bundle_copy.replace("bundle.yaml", "attributes:\n", "attributes:\n" + declared)
    [(code, file, _line, message)] = problems(bundle_copy)
    assert (code, file, message) == ("R501", "rules/bundle.yaml", "'attributes' has more than 64 entries")
