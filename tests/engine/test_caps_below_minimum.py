"""limits.yaml written so that every GrantLimit is declined: a fixed cap that, rounded down, is below
minimum_limit, or a minimum_limit above every band's base limit. Only test cases expecting an approval caught it;
the checker now refuses it (R303), naming the cap or the minimum and the amounts, with a fix."""

from __future__ import annotations

from service.engine.bundle import check_bundle, load_bundle
from tests.engine.conftest import BundleCopy

REGULATION = "amount: 300000 CNY"
MINIMUM = "minimum_limit: 1000 CNY"


def problems(bundle_copy: BundleCopy) -> list[tuple[str, str, int | None, str | None, str, str]]:
    return [(p.code, p.file, p.line, p.rule_id, p.message, p.hint) for p in check_bundle(bundle_copy.dir)]


def test_a_fixed_cap_below_the_minimum_limit_is_refused_at_the_cap(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", REGULATION, "amount: 500 CNY")
    assert problems(bundle_copy) == [(
        "R303", "rules/limits.yaml", bundle_copy.line_of("limits.yaml", "- id: LIM-REGULATION"), "LIM-REGULATION",
        "the cap of 500 CNY is below minimum_limit (1000 CNY), so every GrantLimit is declined "
        "(LIMIT_BELOW_MINIMUM)",
        "raise the cap to at least 1000 CNY, or lower minimum_limit to at most 500 CNY")]


def test_a_fixed_cap_that_rounding_takes_below_the_minimum_limit_is_refused(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", REGULATION, "amount: 1050 CNY")
    bundle_copy.replace("limits.yaml", MINIMUM, "minimum_limit: 1050 CNY")
    assert problems(bundle_copy) == [(
        "R303", "rules/limits.yaml", bundle_copy.line_of("limits.yaml", "- id: LIM-REGULATION"), "LIM-REGULATION",
        "the cap of 1050 CNY, rounded down to 1000 CNY (a limit is a multiple of the rounding, 100 CNY), is below "
        "minimum_limit (1050 CNY), so every GrantLimit is declined (LIMIT_BELOW_MINIMUM)",
        "raise the cap to at least 1100 CNY, or lower minimum_limit to at most 1000 CNY")]


def test_a_minimum_limit_above_every_base_limit_is_refused_at_the_minimum_alone(bundle_copy: BundleCopy) -> None:
    # LIM-REGULATION (300,000 CNY) is below it too, but raising that cap would decline as many
    bundle_copy.replace("limits.yaml", MINIMUM, "minimum_limit: 400000 CNY")
    assert problems(bundle_copy) == [(
        "R303", "rules/limits.yaml", bundle_copy.line_of("limits.yaml", "minimum_limit:"), None,
        "minimum_limit (400000 CNY) is above every band's base limit (the highest, band A's, is 200000 CNY), so "
        "every GrantLimit is declined (LIMIT_BELOW_MINIMUM)",
        "lower minimum_limit to at most 200000 CNY, or raise a base limit to at least 400000 CNY")]


def test_a_cap_at_the_minimum_and_a_minimum_at_the_highest_base_limit_are_accepted(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", REGULATION, "amount: 1000 CNY")
    assert problems(bundle_copy) == []
    bundle_copy.replace("limits.yaml", "amount: 1000 CNY", REGULATION)
    bundle_copy.replace("limits.yaml", MINIMUM, "minimum_limit: 200000 CNY")
    assert problems(bundle_copy) == []


def test_a_minimum_above_only_some_base_limits_and_a_cap_on_income_are_not_refused(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", MINIMUM, "minimum_limit: 50000 CNY")  # bands B (80,000) and A still lend
    assert problems(bundle_copy) == []


def test_a_backstop_cap_still_counts_as_one_that_cannot_bind(bundle_copy: BundleCopy) -> None:
    bundle = load_bundle(bundle_copy.dir)
    try:
        assert bundle.caps_that_cannot_bind() == ["LIM-REGULATION"]
    finally:
        bundle.close()
