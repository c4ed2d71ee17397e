"""The bundle currently serving. Swapped atomically; each call takes one reference and decides under it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from service.domain.errors import NoRuleBundle
from service.engine.bundle import RuleBundle, load_bundle
from service.engine.errors import BundleInvalid


class RulesHolder:
    """Holds the active bundle and the last rejected attempt, for operators. `vouch`, if given, is asked about each
    bundle that loads before it serves, and refuses it by raising BundleInvalid (see rule_versions.py)."""

    def __init__(self, directory: Path, vouch: Callable[[RuleBundle], None] | None = None) -> None:
        self.directory = directory
        self._vouch = vouch
        self._active: RuleBundle | None = None
        self._rejected: BundleInvalid | None = None
        self._lock = threading.Lock()

    def current(self) -> RuleBundle:
        bundle = self._active  # one atomic read: the whole call uses this bundle
        if bundle is None:
            raise NoRuleBundle()
        return bundle

    @property
    def rejected(self) -> BundleInvalid | None:
        return self._rejected

    def reload(self) -> RuleBundle:
        """Load the directory again; activate it if valid and vouched for, else keep the last good one and raise."""
        with self._lock:
            try:
                bundle = load_bundle(self.directory)
                if self._vouch is not None:
                    self._vouch(bundle)
            except BundleInvalid as problems:
                self._rejected = problems
                raise
            self._rejected = None
            # The old bundle is left to the garbage collector, not closed: calls in flight may still use it.
            self._active = bundle
            return bundle


@dataclass(frozen=True)
class RulesStatus:
    """What operators see: the serving bundle, what checking it warned of, and the last refused edit."""

    active_version: str | None
    active_digest: str | None
    rejected_problems: tuple[str, ...] = ()
    rejected_at: datetime | None = None
    checking_since: datetime | None = None  # an edit noticed and not yet judged
    active_warnings: tuple[str, ...] = ()


def rules_status(holder: RulesHolder, status_file: Path | None) -> RulesStatus:
    """The holder's active bundle; the refused edit as the supervisor recorded it (or the holder's own)."""
    bundle: RuleBundle | None = None
    with suppress(NoRuleBundle):
        bundle = holder.current()
    version, digest = (None, None) if bundle is None else (bundle.version, bundle.digest)
    problems: tuple[str, ...] = ()
    rejected_at = checking_since = None
    if status_file is not None and status_file.exists():
        written = json.loads(status_file.read_text() or "{}")
        # as the supervisor recorded them for the checked copy this process loaded: naming the rule directory
        by_copy = written.get("warnings") or {}
        warnings: tuple[str, ...] = () if bundle is None else tuple(by_copy.get(str(bundle.directory), ()))
        recorded = written.get("rejected") or {}
        problems = tuple(recorded.get("problems", ()))
        if "at" in recorded:
            rejected_at = datetime.fromtimestamp(recorded["at"], UTC)
        if written.get("checking_since") is not None:
            checking_since = datetime.fromtimestamp(written["checking_since"], UTC)
    else:
        warnings = () if bundle is None else tuple(p.format() for p in bundle.warnings)
        if holder.rejected is not None:
            problems = tuple(p.format() for p in holder.rejected.problems)
    return RulesStatus(version, digest, problems, rejected_at, checking_since, warnings)
