"""Channels opened as the README tells client teams to open theirs: with the contract's service config
(`protos/decision/v1/decision_grpc_service_config.json`: wait for a connection, retry UNAVAILABLE)."""

from __future__ import annotations

from pathlib import Path

import grpc

SERVICE_CONFIG_FILE = Path(__file__).resolve().parents[2] / "protos/decision/v1/decision_grpc_service_config.json"


def client_channel(address: str) -> grpc.Channel:
    """A plaintext channel to `address` with the contract's service config."""
    return grpc.insecure_channel(address, options=[("grpc.service_config", SERVICE_CONFIG_FILE.read_text())])
