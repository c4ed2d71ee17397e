"""A feature name with a time window the catalogue has no field for (features.credential_changed_last_10m). The
checker offered "did you mean 'features.credential_changed_last_24h'?": taken, the rule watches 24 hours, not 10
minutes, and nothing said so. Where the nearest field differs only in its window, the message says that no field
covers the window typed and which window the nearest one covers, without offering it as the fix."""

from __future__ import annotations

from service.engine.bundle import check_bundle
from service.engine.typecheck import window_differs
from tests.engine.conftest import BundleCopy
from tests.engine.test_bundle_errors import the_error

ANOTHER_WINDOW = ("use a field name from the field catalogue in docs/rules.md; a field for another time window must "
                  "first be added to the service (ask the service team)")


def unknown_field(bundle_copy: BundleCopy, old: str, new: str) -> tuple[str, str, str]:
    bundle_copy.replace("fraud.yaml", old, new)
    found = the_error(bundle_copy.dir)
    return found.code, found.message, found.hint


def test_a_ten_minute_window_is_not_offered_the_24_hour_field_as_a_fix(bundle_copy: BundleCopy) -> None:
    assert unknown_field(bundle_copy, "and features.credential_changed_last_24h",
                         "and features.credential_changed_last_10m") == (
        "R102", "unknown field 'features.credential_changed_last_10m' (no field covers the last 10 minutes: "
        "'features.credential_changed_last_24h' covers the last 24 hours)", ANOTHER_WINDOW)


def test_a_one_hour_window_is_named_against_the_24_hour_field(bundle_copy: BundleCopy) -> None:
    assert unknown_field(bundle_copy, "and features.credential_changed_last_24h",
                         "and features.credential_changed_last_1h") == (
        "R102", "unknown field 'features.credential_changed_last_1h' (no field covers the last hour: "
        "'features.credential_changed_last_24h' covers the last 24 hours)", ANOTHER_WINDOW)


def test_a_24_hour_window_against_a_field_of_the_last_hour(bundle_copy: BundleCopy) -> None:
    assert unknown_field(bundle_copy, "features.transfer_out_ratio_last_hour >= 0.9",
                         "features.transfer_out_ratio_last_24h >= 0.9") == (
        "R102", "unknown field 'features.transfer_out_ratio_last_24h' (no field covers the last 24 hours: "
        "'features.transfer_out_ratio_last_hour' covers the last hour)", ANOTHER_WINDOW)


def test_a_misspelt_field_with_the_same_window_is_still_offered_the_fix(bundle_copy: BundleCopy) -> None:
    assert unknown_field(bundle_copy, "and features.credential_changed_last_24h",
                         "and features.credential_chnaged_last_24h") == (
        "R102", "unknown field 'features.credential_chnaged_last_24h' (did you mean "
        "'features.credential_changed_last_24h'?)", "use a field name from the field catalogue in docs/rules.md")


def test_only_a_change_of_window_counts_as_another_window() -> None:
    assert window_differs("features.credential_changed_last_10m", "features.credential_changed_last_24h")
    assert window_differs("features.drawdowns_last_24h", "features.drawdowns_last_hour")
    assert not window_differs("features.credential_changed_last_1440m", "features.credential_changed_last_24h")
    assert not window_differs("features.drawdowns_last_1h", "features.drawdowns_last_hour")
    assert not window_differs("features.password_changed_last_10m", "features.credential_changed_last_24h")
    assert not window_differs("applicant.max_days_overdue_12m", "applicant.max_days_overdue_24m")


def test_the_starter_bundle_still_checks_clean(bundle_copy: BundleCopy) -> None:
    assert check_bundle(bundle_copy.dir) == []
