"""Settings: one frozen, validated object built from the command line and the environment.

No other module reads the environment.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from service.affinity import MODES
from service.storage.factory import check_database_url

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_RULES = "./rules"
DEFAULT_DATABASE = "sqlite:///./var/decisions.db"
SPREAD_MODES = ("auto", "off")
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----")
_PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")


class SettingsError(ValueError):
    """A setting is malformed; the message names it."""


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of the listener's TLS. Checked by load_settings and read when a worker starts, so that the
    workers a restart or a rule reload starts serve the certificates the files then hold."""

    cert: Path  # the certificate chain, the server's own certificate first
    key: Path  # its private key, unencrypted
    client_ca: Path | None = None  # set: clients must present a certificate signed by a CA in this bundle


@dataclass(frozen=True)
class Settings:
    host: str
    port: int  # 0 picks a free port
    rules_dir: Path
    database_url: str
    workers: int = 2  # serving processes sharing the port
    drain_seconds: float = 10.0  # calls in flight at shutdown get this long to finish
    lame_duck_seconds: float = 1.0  # keep answering this long after SIGTERM before refusing new calls
    connection_age_seconds: float = 2.0  # workers move client connections on this often (how a drain migrates them)
    # SQLite: a call waits at most this long for the calls arriving with it, to run with them as one batch
    # (api/runners.py; 0: calls run one by one).
    batch_wait_seconds: float = 0.0025
    # Which CPU each worker keeps to (service/affinity.py): auto, on or off.
    cpu_affinity: str = "auto"
    # How new client connections are spread over the workers (service/spread.py): auto, the worker with the fewest
    # where the kernel lets the supervisor load the program that chooses, else the kernel's hash; off: the hash.
    connection_spread: str = "auto"
    log_level: str = "info"
    tls: TlsFiles | None = None  # None: plaintext

    @property
    def listen(self) -> str:
        return f"{self.host}:{self.port}"


def parse_listen(value: str) -> tuple[str, int]:
    """Split HOST:PORT (IPv6 as [::1]:PORT); the port must be 0..65535."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise SettingsError(f"listen address {value!r} must be HOST:PORT, e.g. 127.0.0.1:50051")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise SettingsError(f"listen port {port_text!r} must be a number from 0 to 65535")
    return host, int(port_text)


def load_settings(
    *,
    listen: str | None = None,
    rules: str | None = None,
    database: str | None = None,
    workers: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings: explicit arguments win, then DECISIOND_* environment variables, then defaults."""
    env = os.environ if environ is None else environ
    host, port = parse_listen(listen or env.get("DECISIOND_LISTEN") or DEFAULT_LISTEN)
    rules_dir = Path(rules or env.get("DECISIOND_RULES") or DEFAULT_RULES)
    database_url = database or env.get("DECISIOND_DATABASE") or DEFAULT_DATABASE
    try:
        check_database_url(database_url)
    except ValueError as error:
        raise SettingsError(f"the database URL (--database, DECISIOND_DATABASE) cannot be used: {error}") from None
    if "DECISIOND_THREADS" in env:
        raise SettingsError("DECISIOND_THREADS is gone: calls on PostgreSQL no longer run on threads; the database "
                            "URL's pool_size bounds how many transactions a worker process runs at once")
    processes_text = str(workers) if workers is not None else env.get("DECISIOND_WORKERS", "2")
    if not processes_text.isdigit() or not 1 <= int(processes_text) <= 64:
        raise SettingsError("the number of worker processes (--workers, DECISIOND_WORKERS) must be from 1 to 64")
    if "DECISIOND_BATCH_GAP_US" in env:
        raise SettingsError("DECISIOND_BATCH_GAP_US is gone: batches no longer wait for a gap; "
                            "DECISIOND_BATCH_WAIT_US bounds how long a call waits for its batch")
    batch_wait_text = env.get("DECISIOND_BATCH_WAIT_US", str(round(Settings.batch_wait_seconds * 1_000_000)))
    if not batch_wait_text.isdigit() or not 0 <= int(batch_wait_text) <= 100_000:
        raise SettingsError("DECISIOND_BATCH_WAIT_US must be a whole number of microseconds from 0 to 100000")
    cpu_affinity = env.get("DECISIOND_CPU_AFFINITY", Settings.cpu_affinity).lower()
    if cpu_affinity not in MODES:
        raise SettingsError(f"DECISIOND_CPU_AFFINITY must be one of {', '.join(MODES)} (auto: each worker keeps to "
                            "a CPU of its own when the workers fill the machine; on: always; off: never)")
    connection_spread = env.get("DECISIOND_CONNECTION_SPREAD", Settings.connection_spread).lower()
    if connection_spread not in SPREAD_MODES:
        raise SettingsError("DECISIOND_CONNECTION_SPREAD must be auto (each new connection to the worker holding the "
                            "fewest, where the kernel allows) or off (the kernel's hash of the addresses)")
    log_level = env.get("DECISIOND_LOG_LEVEL", "info").lower()
    if log_level not in {"debug", "info", "warning", "error"}:
        raise SettingsError("DECISIOND_LOG_LEVEL must be one of debug, info, warning, error")
    return Settings(
        host=host,
        port=port,
        rules_dir=rules_dir,
        database_url=database_url,
        workers=int(processes_text),
        batch_wait_seconds=int(batch_wait_text) / 1_000_000,
        cpu_affinity=cpu_affinity,
        connection_spread=connection_spread,
        log_level=log_level,
        tls=tls_files(env),
    )


def tls_files(env: Mapping[str, str]) -> TlsFiles | None:
    """The TLS files DECISIOND_TLS_CERT, DECISIOND_TLS_KEY and DECISIOND_TLS_CLIENT_CA name, checked: each there,
    readable and PEM, the key that of the certificate. None when none is set (plaintext)."""
    cert, key, client_ca = (env.get(f"DECISIOND_TLS_{name}") or None for name in ("CERT", "KEY", "CLIENT_CA"))
    if cert is None and key is None:
        if client_ca is not None:
            raise SettingsError("DECISIOND_TLS_CLIENT_CA is set but DECISIOND_TLS_CERT and DECISIOND_TLS_KEY are not:"
                                " client certificates are checked only on a TLS listener; set all three")
        return None
    if cert is None or key is None:
        given, missing = ("DECISIOND_TLS_KEY", "DECISIOND_TLS_CERT") if cert is None else ("DECISIOND_TLS_CERT",
                                                                                        "DECISIOND_TLS_KEY")
        raise SettingsError(f"{given} is set but {missing} is not: give both the certificate chain and its private"
                            " key (TLS), or neither (plaintext)")
    files = TlsFiles(Path(cert), Path(key), None if client_ca is None else Path(client_ca))
    _check_certificates("DECISIOND_TLS_CERT", files.cert)
    if files.client_ca is not None:
        _check_certificates("DECISIOND_TLS_CLIENT_CA", files.client_ca)
    _check_private_key(files)
    return files


def _pem(setting: str, path: Path) -> bytes:
    """The file's content; SettingsError naming the setting and the file when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SettingsError(f"{setting} {path}: there is no such file") from None
    except IsADirectoryError:
        raise SettingsError(f"{setting} {path} is a folder: name the PEM file in it") from None
    except OSError as error:
        raise SettingsError(f"{setting} {path} cannot be read ({(error.strerror or str(error)).lower()})") from None


def _check_certificates(setting: str, path: Path) -> None:
    text = _pem(setting, path)
    if not _PEM_CERTIFICATE.search(text):
        raise SettingsError(f"{setting} {path} is not PEM: it holds no certificate (-----BEGIN CERTIFICATE-----)")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text.decode("ascii", "replace"))
    except ssl.SSLError:
        raise SettingsError(f"{setting} {path} holds a damaged certificate: its PEM does not decode") from None


def _check_private_key(files: TlsFiles) -> None:
    text = _pem("DECISIOND_TLS_KEY", files.key)
    if not _PEM_PRIVATE_KEY.search(text):
        raise SettingsError(f"DECISIOND_TLS_KEY {files.key} is not PEM: it holds no private key"
                            " (-----BEGIN PRIVATE KEY-----)")
    if b"ENCRYPTED" in text:
        raise SettingsError(f"DECISIOND_TLS_KEY {files.key} is encrypted with a passphrase, which gRPC cannot take:"
                            f" give it unencrypted (openssl pkey -in {files.key} -out KEY), readable by this user only")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(files.cert, files.key, password="")
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise SettingsError(f"DECISIOND_TLS_KEY {files.key} does not match the certificate DECISIOND_TLS_CERT"
                                f" {files.cert} (the server's own certificate must come first in that file)") from None
        raise SettingsError(f"DECISIOND_TLS_KEY {files.key} holds a damaged private key: its PEM does not decode"
                            ) from None


def redact_password(url: str) -> str:
    """The URL with any password (before the host, or a password= parameter) replaced by ***, fit to print.

    The user part is found as libpq finds it, not as a web URL's: everything up to the first '@' before the first
    '/' after '://', so a password holding '#' or '?' (which urlsplit takes for a fragment or a query, finding no
    password at all) is hidden whole."""
    scheme, sep, rest = url.partition("://")
    head = rest.split("/", 1)[0]
    user_part, at, _ = head.partition("@")
    user, colon, _ = user_part.partition(":")
    if sep and at and colon:
        url = f"{scheme}{sep}{user}:***@{rest[len(user_part) + 1:]}"
    base, mark, query = url.partition("?")
    pieces = query.split("&") if mark else []
    hidden = [f"{piece.partition('=')[0]}=***" if unquote(piece.partition("=")[0]) == "password" else piece
              for piece in pieces]
    return base + mark + "&".join(hidden)
