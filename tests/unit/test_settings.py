"""Settings and what the server prints about them."""

from pathlib import Path

import pytest

from service.config import SettingsError, load_settings, parse_listen, redact_password


def test_listen_address_is_parsed_and_port_zero_allowed() -> None:
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:50051") == ("[::1]", 50051)
    with pytest.raises(SettingsError, match="HOST:PORT"):
        parse_listen("50051")
    with pytest.raises(SettingsError, match="0 to 65535"):
        parse_listen("127.0.0.1:70000")


def test_flags_win_over_the_environment_which_wins_over_defaults() -> None:
    env = {"DECISIOND_LISTEN": "0.0.0.0:6000", "DECISIOND_DATABASE": "sqlite:////tmp/x.db", "DECISIOND_WORKERS": "3"}
    settings = load_settings(listen="127.0.0.1:7000", environ=env)
    assert (settings.host, settings.port, settings.database_url, settings.workers) == (
        "127.0.0.1",
        7000,
        "sqlite:////tmp/x.db",
        3,
    )
    defaults = load_settings(environ={})
    assert (defaults.listen, str(defaults.rules_dir), defaults.database_url) == (
        "127.0.0.1:50051",
        "rules",
        "sqlite:///./var/decisions.db",
    )


def test_bad_worker_count_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="DECISIOND_WORKERS"):
        load_settings(environ={"DECISIOND_WORKERS": "0"})


def test_a_password_in_the_database_url_is_never_printed() -> None:
    assert redact_password("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact_password("sqlite:///./var/decisions.db") == "sqlite:///./var/decisions.db"


@pytest.mark.parametrize("password", ["5432#Zz", "2024?Secret", "a#b?c", "p:w", "%40t"])
def test_a_password_is_hidden_whatever_it_holds_that_a_web_url_would_read_otherwise(password: str) -> None:
    """libpq takes everything up to the first '@' before the first '/' as the user part: a password that starts
    with digits and holds '#' or '?' connects, though urllib finds no password in such a URL (then shown in `ps`
    and in the start line)."""
    for url in (f"postgresql://app:{password}@db:5432/x?sslmode=disable", f"postgresql://app:{password}@db"):
        hidden = redact_password(url)
        assert password not in hidden
        assert hidden.startswith("postgresql://app:***@db")


def test_the_longest_batch_wait_is_set_in_microseconds_and_a_bad_one_names_the_setting() -> None:
    assert load_settings(environ={}).batch_wait_seconds == 0.0025
    assert load_settings(environ={"DECISIOND_BATCH_WAIT_US": "0"}).batch_wait_seconds == 0.0
    assert load_settings(environ={"DECISIOND_BATCH_WAIT_US": "1000"}).batch_wait_seconds == 0.001
    for bad in ("-5", "0.5", "1ms", "100001"):
        with pytest.raises(SettingsError, match="DECISIOND_BATCH_WAIT_US"):
            load_settings(environ={"DECISIOND_BATCH_WAIT_US": bad})


def test_the_retired_batching_gap_setting_is_refused_with_its_replacement_named() -> None:
    with pytest.raises(SettingsError, match=r"DECISIOND_BATCH_GAP_US is gone.*DECISIOND_BATCH_WAIT_US"):
        load_settings(environ={"DECISIOND_BATCH_GAP_US": "250"})


def test_the_retired_thread_count_is_refused_with_what_bounds_concurrency_now() -> None:
    with pytest.raises(SettingsError, match=r"DECISIOND_THREADS is gone.*pool_size"):
        load_settings(environ={"DECISIOND_THREADS": "16"})


def test_cpu_affinity_is_auto_unless_set_and_a_bad_mode_names_the_setting_and_its_modes() -> None:
    assert load_settings(environ={}).cpu_affinity == "auto"
    assert load_settings(environ={"DECISIOND_CPU_AFFINITY": "OFF"}).cpu_affinity == "off"
    with pytest.raises(SettingsError, match="DECISIOND_CPU_AFFINITY must be one of auto, on, off"):
        load_settings(environ={"DECISIOND_CPU_AFFINITY": "yes"})


def test_connection_spread_is_auto_unless_set_and_a_bad_mode_names_the_setting_and_its_modes() -> None:
    assert load_settings(environ={}).connection_spread == "auto"
    assert load_settings(environ={"DECISIOND_CONNECTION_SPREAD": "Off"}).connection_spread == "off"
    with pytest.raises(SettingsError, match=r"DECISIOND_CONNECTION_SPREAD must be auto \(.*\) or off"):
        load_settings(environ={"DECISIOND_CONNECTION_SPREAD": "round-robin"})


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://root@127.0.0.1/x", "unsupported database URL scheme 'mysql'"),
        ("garbage", "unsupported database URL scheme 'garbage'"),
        ("sqlite://a.db", "names a host"),
        ("sqlite:///x.db?foo=1", "unknown SQLite URL option 'foo'"),
        ("postgresql://u@localhost:notaport/db", "the port in the PostgreSQL URL must be a number"),
        ("postgresql://u@localhost/db?pool_size=0", "pool_size must be from 1 to 1000"),
        # Twice it in milliseconds overflowed PostgreSQL's idle_in_transaction_session_timeout: serve hung silently.
        ("postgresql://u@localhost/db?timeout=1100000", "timeout must be a positive number of seconds, at most 3600"),
    ],
)
def test_a_database_url_that_cannot_be_used_is_refused_before_anything_starts(url: str, said: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(database=url, environ={})
    assert str(refused.value).startswith("the database URL (--database, DECISIOND_DATABASE) cannot be used: ")
    assert said in str(refused.value)


def test_a_sqlite_file_that_can_never_be_made_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """Before, each worker failed with a traceback ('FileExistsError: [Errno 17] File exists') that named neither
    the setting nor the path, and the server tried again forever."""
    (tmp_path / "afile").write_text("not a folder")
    for path, said in [
        (f"{tmp_path}/afile/x.db", f"{tmp_path}/afile is a file, so the database {tmp_path}/afile/x.db cannot be made"
                                   " in it"),
        (f"{tmp_path}/afile/deeper/x.db", f"{tmp_path}/afile is a file, so the database {tmp_path}/afile/deeper/x.db"
                                          " cannot be made in it"),
        (f"{tmp_path}", f"{tmp_path} is a folder, not a database file: name a file in it, e.g."
                        f" {tmp_path}/decisions.db"),
    ]:
        with pytest.raises(SettingsError) as refused:
            load_settings(database=f"sqlite:///{path}", environ={})
        assert str(refused.value) == f"the database URL (--database, DECISIOND_DATABASE) cannot be used: {said}"
    assert load_settings(database=f"sqlite:///{tmp_path}/new/folders/x.db", environ={}).database_url.endswith("x.db")


def test_tls_is_off_unless_both_the_certificate_and_its_key_are_set() -> None:
    assert load_settings(environ={}).tls is None
    assert load_settings(environ={"DECISIOND_TLS_CERT": "", "DECISIOND_TLS_KEY": ""}).tls is None
    with pytest.raises(SettingsError, match=r"^DECISIOND_TLS_CERT is set but DECISIOND_TLS_KEY is not: give both"):
        load_settings(environ={"DECISIOND_TLS_CERT": "/etc/decisiond/cert.pem"})
    with pytest.raises(SettingsError, match=r"^DECISIOND_TLS_KEY is set but DECISIOND_TLS_CERT is not: give both"):
        load_settings(environ={"DECISIOND_TLS_KEY": "/etc/decisiond/key.pem"})
    with pytest.raises(SettingsError, match=r"^DECISIOND_TLS_CLIENT_CA is set but DECISIOND_TLS_CERT and"):
        load_settings(environ={"DECISIOND_TLS_CLIENT_CA": "/etc/decisiond/ca.pem"})


def test_a_tls_file_that_is_missing_a_folder_or_not_pem_is_refused_naming_the_setting_and_the_file(
    tmp_path: Path,
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate\n")
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    damaged = tmp_path / "damaged.pem"
    damaged.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    for cert, key_file, said in [
        (tmp_path / "gone.pem", key, f"DECISIOND_TLS_CERT {tmp_path / 'gone.pem'}: there is no such file"),
        (tmp_path, key, f"DECISIOND_TLS_CERT {tmp_path} is a folder: name the PEM file in it"),
        (text, key, f"DECISIOND_TLS_CERT {text} is not PEM: it holds no certificate (-----BEGIN CERTIFICATE-----)"),
        (damaged, key, f"DECISIOND_TLS_CERT {damaged} holds a damaged certificate: its PEM does not decode"),
    ]:
        with pytest.raises(SettingsError) as refused:
            load_settings(environ={"DECISIOND_TLS_CERT": str(cert), "DECISIOND_TLS_KEY": str(key_file)})
        assert str(refused.value) == said


def test_a_tls_file_that_cannot_be_read_is_refused_saying_why(tmp_path: Path) -> None:
    beside = tmp_path / "cert.pem"
    beside.write_text("-----BEGIN CERTIFICATE-----\n")
    cert = beside / "cert.pem"  # under a file, not a folder: unreadable whoever runs the tests, root too
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={"DECISIOND_TLS_CERT": str(cert), "DECISIOND_TLS_KEY": str(beside)})
    assert str(refused.value) == f"DECISIOND_TLS_CERT {cert} cannot be read (not a directory)"
