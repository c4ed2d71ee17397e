"""`decisiond serve` with TLS, and mutual TLS, on its gRPC listener: certificates made with the openssl command line
in the test's folder (a CA, a server certificate for 127.0.0.1, client certificates), real servers, real stubs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.cli import main
from tests.contract.helpers import new_user, rpc_error
from tests.lifecycle.test_hot_reload import wait_for
from tests.support.builders import request_id, strong_applicant
from tests.support.server_process import ROOT, ServerProcess, start_server

OPENSSL = "/usr/bin/openssl"
NEW_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Pki:
    folder: Path

    def __getitem__(self, name: str) -> Path:
        return self.folder / name

    def read(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()


def openssl(folder: Path, *arguments: str) -> None:
    subprocess.run([OPENSSL, *arguments], cwd=folder, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> None:
    openssl(folder, "req", "-x509", *NEW_EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN={name}")


def make_signed(folder: Path, name: str, ca: str, extensions: str = "") -> None:
    """`name`.pem and `name`.key, a certificate signed by the CA `ca`."""
    openssl(folder, "req", *NEW_EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    (folder / f"{name}.ext").write_text(extensions)
    openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """ca signs server (for 127.0.0.1) and client; stranger-ca signs stranger, a client certificate ca never saw, and
    renewed, a server certificate for 127.0.0.1 to rotate to."""
    folder = tmp_path_factory.mktemp("pki")
    make_ca(folder, "ca")
    make_signed(folder, "server", "ca", "subjectAltName=IP:127.0.0.1\n")
    make_signed(folder, "client", "ca")
    make_ca(folder, "stranger-ca")
    make_signed(folder, "stranger", "stranger-ca")
    make_signed(folder, "renewed", "stranger-ca", "subjectAltName=IP:127.0.0.1\n")  # a server certificate too
    return Pki(folder)


def tls_env(pki: Pki, *, client_ca: bool = False) -> dict[str, str]:
    env = {"DECISIOND_TLS_CERT": str(pki["server.pem"]), "DECISIOND_TLS_KEY": str(pki["server.key"])}
    if client_ca:
        env["DECISIOND_TLS_CLIENT_CA"] = str(pki["ca.pem"])
    return env


@pytest.fixture(scope="module")
def tls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    ledger = tmp_path_factory.mktemp("tls-ledger") / "decisions.db"
    running = start_server(f"sqlite:///{ledger}", workers=1, env=tls_env(pki))
    yield running
    running.kill()


@pytest.fixture(scope="module")
def mtls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    ledger = tmp_path_factory.mktemp("mtls-ledger") / "decisions.db"
    running = start_server(f"sqlite:///{ledger}", workers=1, env=tls_env(pki, client_ca=True))
    yield running
    running.kill()


def secure_channel(server: ServerProcess, pki: Pki, client: str | None = None) -> grpc.Channel:
    """A channel trusting the test CA, presenting the certificate `client` (client.pem, say) if given."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.read("ca.pem"),
        private_key=None if client is None else pki.read(f"{client}.key"),
        certificate_chain=None if client is None else pki.read(f"{client}.pem"),
    )
    return grpc.secure_channel(server.address, credentials)


def score(channel: grpc.Channel) -> pb.ScoreUserResponse:
    decisions = pb_grpc.DecisionServiceStub(channel)
    request = pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant(new_user()))
    return decisions.ScoreUser(request, timeout=10)


def health(channel: grpc.Channel) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    return answer.status


def test_a_tls_client_trusting_the_ca_gets_a_decision_and_health_serving(tls_server: ServerProcess, pki: Pki) -> None:
    with secure_channel(tls_server, pki) as channel:
        assert score(channel).band == "A"
        assert health(channel) == health_pb2.HealthCheckResponse.SERVING


def test_a_plaintext_client_gets_no_answer_from_a_tls_listener(tls_server: ServerProcess) -> None:
    with grpc.insecure_channel(tls_server.address) as channel:
        refused = rpc_error(lambda: score(channel))
    assert refused.code() == grpc.StatusCode.UNAVAILABLE


def test_the_start_line_says_the_listener_is_tls(tls_server: ServerProcess, pki: Pki) -> None:
    assert f"with TLS (certificate {pki['server.pem']}), rule bundle " in tls_server.first_line


def test_with_a_client_ca_only_clients_presenting_a_certificate_it_signed_are_answered(
    mtls_server: ServerProcess, pki: Pki
) -> None:
    with secure_channel(mtls_server, pki, client="client") as channel:
        assert score(channel).band == "A"
        assert health(channel) == health_pb2.HealthCheckResponse.SERVING
    for refused_client in (None, "stranger"):  # no certificate; one another CA signed
        with secure_channel(mtls_server, pki, client=refused_client) as channel:
            refused = rpc_error(lambda: score(channel))
        assert refused.code() == grpc.StatusCode.UNAVAILABLE, refused_client


def test_the_start_line_says_the_listener_is_mutual_tls(mtls_server: ServerProcess, pki: Pki) -> None:
    assert (f"with mutual TLS (certificate {pki['server.pem']}; clients must present one signed by {pki['ca.pem']}),"
            in mtls_server.first_line)


def test_certificates_rotated_in_place_are_served_after_a_reload(pki: Pki, tmp_path: Path) -> None:
    """Workers read the files when they start: SIGHUP (a rule reload) replaces them, and so serves the new files;
    new workers that cannot take the files (a certificate copied before its key) leave the old ones serving."""
    live = tmp_path / "live"
    live.mkdir()
    for name in ("server.pem", "server.key"):
        shutil.copy(pki[name], live / name)
    env = {"DECISIOND_TLS_CERT": str(live / "server.pem"), "DECISIOND_TLS_KEY": str(live / "server.key")}
    server = start_server(f"sqlite:///{tmp_path / 'ledger.db'}", workers=1, env=env)
    try:
        shutil.copy(pki["renewed.pem"], live / "server.pem")  # its key not yet: the new workers cannot start
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: [e for e in server.logs() if e.get("event") == "workers.not_started"], "the refusal")
        refusal = next(e for e in server.logs() if e.get("event") == "workers.not_started")
        assert f"DECISIOND_TLS_KEY {live / 'server.key'} does not match the certificate" in str(refusal["reason"])
        with secure_channel(server, pki) as channel:  # the workers started with the old files serve on
            assert score(channel).band == "A"
        renewed = grpc.ssl_channel_credentials(root_certificates=pki.read("stranger-ca.pem"))
        shutil.copy(pki["renewed.key"], live / "server.key")
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: [e for e in server.logs() if e.get("event") == "rules.activated"][1:], "the new workers")
        with grpc.secure_channel(server.address, renewed) as channel:
            assert score(channel).band == "A"
    finally:
        server.kill()


# --- settings that cannot serve are refused at start -------------------------------------------------------------


def bad_settings(pki: Pki) -> list[tuple[dict[str, str], str]]:
    """(environment, the line `serve` refuses it with, after `decisiond: `)."""
    cert, key, ca = str(pki["server.pem"]), str(pki["server.key"]), str(pki["ca.pem"])
    missing = str(pki["nowhere.pem"])
    return [
        ({"DECISIOND_TLS_CERT": cert}, "DECISIOND_TLS_CERT is set but DECISIOND_TLS_KEY is not: give both"),
        ({"DECISIOND_TLS_KEY": key}, "DECISIOND_TLS_KEY is set but DECISIOND_TLS_CERT is not: give both"),
        ({"DECISIOND_TLS_CLIENT_CA": ca}, "DECISIOND_TLS_CLIENT_CA is set but DECISIOND_TLS_CERT and"),
        ({"DECISIOND_TLS_CERT": missing, "DECISIOND_TLS_KEY": key},
         f"DECISIOND_TLS_CERT {missing}: there is no such file"),
        ({"DECISIOND_TLS_CERT": cert, "DECISIOND_TLS_KEY": str(pki["server.csr"])},
         f"DECISIOND_TLS_KEY {pki['server.csr']} is not PEM: it holds no private key"),
        ({"DECISIOND_TLS_CERT": str(pki["server.key"]), "DECISIOND_TLS_KEY": key},
         f"DECISIOND_TLS_CERT {pki['server.key']} is not PEM: it holds no certificate"),
        ({"DECISIOND_TLS_CERT": cert, "DECISIOND_TLS_KEY": str(pki["client.key"])},
         f"DECISIOND_TLS_KEY {pki['client.key']} does not match the certificate DECISIOND_TLS_CERT {cert}"),
        ({**tls_env(pki), "DECISIOND_TLS_CLIENT_CA": str(pki.folder)},
         f"DECISIOND_TLS_CLIENT_CA {pki.folder} is a folder"),
    ]


def test_each_bad_tls_setting_refuses_to_start_in_one_line_naming_the_setting_and_the_file(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for env, said in bad_settings(pki):
        for name in ("DECISIOND_TLS_CERT", "DECISIOND_TLS_KEY", "DECISIOND_TLS_CLIENT_CA"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = main(["serve", "--listen", "127.0.0.1:0", "--database", f"sqlite:///{tmp_path / 'x.db'}"])
        err = capsys.readouterr().err
        assert (code, err.count("\n"), err.startswith(f"decisiond: {said}")) == (2, 1, True), err


def test_a_key_that_does_not_match_is_refused_by_the_command_with_exit_status_2_and_no_traceback(
    pki: Pki, tmp_path: Path
) -> None:
    env = {**os.environ, "DECISIOND_TLS_CERT": str(pki["server.pem"]), "DECISIOND_TLS_KEY": str(pki["client.key"])}
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--listen", "127.0.0.1:0", "--database",
         f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f"decisiond: DECISIOND_TLS_KEY {pki['client.key']} does not match the certificate"
                           f" DECISIOND_TLS_CERT {pki['server.pem']} (the server's own certificate must come first in"
                           " that file)\n")
