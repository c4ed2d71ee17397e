"""A real server on a free loopback port, with the bundled rules and a fresh SQLite ledger, and real stubs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.bootstrap import Service, start_service
from service.config import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    database = tmp_path_factory.mktemp("ledger") / "decisions.db"
    settings = Settings(host="127.0.0.1", port=0, rules_dir=ROOT / "rules", database_url=f"sqlite:///{database}")
    running = start_service(settings)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def channel(service: Service) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{service.port}") as chan:
        yield chan


@pytest.fixture(scope="module")
def decisions(channel: grpc.Channel) -> pb_grpc.DecisionServiceStub:
    return pb_grpc.DecisionServiceStub(channel)


@pytest.fixture(scope="module")
def ledger(channel: grpc.Channel) -> pb_grpc.CreditLineServiceStub:
    return pb_grpc.CreditLineServiceStub(channel)
