"""One version names one set of rules, in the ledger: every decision records its bundle's version, so a bundle whose
version the ledger records for other rules is refused (R014), whether those rules were served before a restart, by
another replica, or by this server a moment ago."""

from __future__ import annotations

from collections.abc import Callable

from service.app.ports import Clock, Store
from service.engine.bundle import RuleBundle
from service.engine.errors import BundleInvalid
from service.engine.loader import version_names_other_rules


def ledger_vouch(store: Store, clock: Clock) -> Callable[[RuleBundle], None]:
    """For RulesHolder: records a bundle's version as naming its rules, unless the ledger names other rules by it;
    then BundleInvalid (R014). Raises StoreUnavailable when the ledger cannot be asked."""

    def vouch(bundle: RuleBundle) -> None:
        with store.unit_of_work() as uow:
            named = uow.name_rule_version(bundle.version, bundle.digest, clock.now())
        if named.digest != bundle.digest:
            raise BundleInvalid([version_names_other_rules(
                bundle.directory, bundle.version, bundle.digest, named.digest, named.first_served_at
            )])

    return vouch
