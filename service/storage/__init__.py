"""One store interface (service.app.ports.Store) with SQLite and PostgreSQL adapters.

``open_store(url)`` is the entry point; the adapters share the ledger's SQL (ledger.py) and the
numbered migrations in ``migrations/``.
"""

from service.storage.factory import open_store
from service.storage.migrations import MigrationError

__all__ = ["MigrationError", "open_store"]
