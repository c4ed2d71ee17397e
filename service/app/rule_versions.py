"""One version names one set of rules, in the ledger: every decision records its bundle's version, so a bundle whose
version the ledger records for other rules is refused (R014), whether those rules were served before a restart, by
another replica, or by this server a moment ago. The ledger also keeps the rules themselves, once per digest, so
that the rules behind any decision can be taken back out of it (`decisiond rules export`)."""

from __future__ import annotations

from collections.abc import Callable

from service.app.ports import Clock, Store
from service.engine import problems as P
from service.engine.bundle import RuleBundle
from service.engine.errors import BundleInvalid
from service.engine.files import BUNDLE_FILE, digest_of, display_path, read_bundle_files
from service.engine.loader import file_differences, version_names_other_rules
from service.engine.problems import RuleProblem, problem


def ledger_vouch(store: Store, clock: Clock) -> Callable[[RuleBundle], None]:
    """For RulesHolder: records a bundle's version as naming its rules, and keeps its files if the ledger does not
    keep them yet, unless the ledger names other rules by that version; then BundleInvalid (R014). Raises
    StoreUnavailable when the ledger cannot be asked."""

    def vouch(bundle: RuleBundle) -> None:
        with store.unit_of_work() as uow:
            kept = uow.keeps_bundle_files(bundle.digest)
        files = None if kept else _files_of(bundle)  # read outside any transaction: lists may hold 32 MiB
        with store.unit_of_work() as uow:
            named = uow.name_rule_version(bundle.version, bundle.digest, clock.now(), files)
        if named.digest != bundle.digest:
            with store.unit_of_work() as uow:
                served = uow.bundle_files(named.digest)  # None for rules served before the ledger kept them
                recorded = uow.rule_versions()
            differences = [] if served is None else file_differences(served, files or _files_of(bundle))
            last = max(recorded, key=lambda named_version: named_version.first_served_at, default=None)
            raise BundleInvalid([version_names_other_rules(
                bundle.directory, bundle.version, bundle.digest, named.digest, named.first_served_at, differences,
                recorded=[named_version.version for named_version in recorded],
                latest=last is None or last.version == bundle.version,
            )])

    return vouch


def _files_of(bundle: RuleBundle) -> dict[str, bytes]:
    """The files the bundle's digest covers, read again from its directory (the supervisor's checked copy, which
    nothing changes). BundleInvalid when they no longer have its digest: the ledger must keep the rules that serve."""
    problems: list[RuleProblem] = []
    read = read_bundle_files(bundle.directory, problems)
    files = {} if read is None else read.digested_files()
    if digest_of(files) != bundle.digest:
        raise BundleInvalid([_changed_while_loading(bundle)])
    return files


def _changed_while_loading(bundle: RuleBundle) -> RuleProblem:
    return problem(
        P.CHANGED_WHILE_LOADING, display_path(bundle.directory, BUNDLE_FILE),
        "the rule files changed while the bundle was being loaded, so the ledger cannot keep the rules that were"
        " checked; the bundle is refused",
        hint="save the files again once the edit is complete (or reload the server)",
    )
