"""An IP address has one form in the service: a rule or a list naming an address meets it however a client wrote
it, and the checker refuses a value in another form (or a range, a host name), which no request can carry."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.bootstrap import start_service
from service.config import Settings
from service.domain.request_limits import canonical_ip
from service.engine.bundle import check_bundle
from tests.contract.conftest import ROOT
from tests.support.builders import request_id

BLOCKED_RULE = """rules:
  - id: FRD-IP
    description: An address the lender blocks
    when: channel.ip == '2001:db8::1' or channel.ip in lists.blocked_ips
    then: {outcome: DECLINE, flag: MULE_COUNTERPARTY, severity: HIGH}

"""


@pytest.mark.parametrize(("written", "kept"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:DB8::1", "2001:db8::1"),
    ("2001:0db8:0:0:0:0:0:0001", "2001:db8::1"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("::FFFF:CB00:7107", "203.0.113.7"),
    ("::1", "::1"),
    ("203.0.113.007", None),  # leading zeros: octal to some parsers, so no address
    ("10.0.0.0/8", None),
    ("localhost", None),
    ("fe80::1%eth0", None),
    ("1.2.3.4\x00", None),
])
def test_an_address_is_kept_in_one_form(written: str, kept: str | None) -> None:
    assert canonical_ip(written) == kept


def blocking_rules(tmp_path: Path, rule: str = BLOCKED_RULE, entries: str = "198.51.100.9\n") -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    fraud = rules / "fraud.yaml"
    fraud.write_text(fraud.read_text().replace("rules:\n", rule, 1))
    (rules / "lists" / "blocked_ips.txt").write_text(entries)
    return rules


def test_a_rule_and_a_list_meet_an_address_however_the_client_wrote_it(tmp_path: Path) -> None:
    """'2001:DB8::1' and '::ffff:198.51.100.9' were approved without a flag by rules naming 2001:db8::1 and
    198.51.100.9: another client library's spelling evaded a deny-list."""
    rules = blocking_rules(tmp_path)
    service = start_service(Settings(host="127.0.0.1", port=0, rules_dir=rules,
                                     database_url=f"sqlite:///{tmp_path / 'ledger.db'}"))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            decisions = pb_grpc.DecisionServiceStub(channel)
            for ip in ("2001:DB8::1", "2001:0db8:0000::0001", "::ffff:198.51.100.9", "::FFFF:C633:6409",
                       "198.51.100.8"):
                login = pb.Transaction(transaction_id="t-1", user_id="u-ip", type=pb.TRANSACTION_TYPE_LOGIN,
                                       channel=pb.Channel(ip=ip))
                answer = decisions.FlagTransaction(pb.FlagTransactionRequest(request_id=request_id(),
                                                                             transaction=login))
                blocked = "FRD-IP" in answer.meta.rules_fired
                assert blocked == (ip != "198.51.100.8"), ip
    finally:
        service.stop()


def test_the_checker_refuses_an_address_in_a_form_no_request_carries_and_offers_the_form_it_has(
    tmp_path: Path,
) -> None:
    rule = BLOCKED_RULE.replace("'2001:db8::1'", "'2001:DB8:0::1' or channel.ip == '10.0.0.0/8'")
    rules = blocking_rules(tmp_path, rule, entries="198.51.100.9\n::ffff:198.51.100.10\nlocalhost\n")
    problems = [(p.code, p.message, p.hint) for p in check_bundle(rules) if p.is_error]
    carried = "requests carry one address, in its shortest standard form (203.0.113.7, 2001:db8::1), or nothing"
    assert problems == [
        ("R105", f"'2001:DB8:0::1' is never an IP address as requests carry it: {carried}",
         "write '2001:db8::1', the form requests carry it in"),
        ("R105", f"'10.0.0.0/8' is never an IP address as requests carry it: {carried}",
         "write one address, e.g. '203.0.113.7' or '2001:db8::1': a rule cannot match a range such as 10.0.0.0/8,"
         " or a host name"),
        ("R105", "lists/blocked_ips.txt has 2 entries that 'channel.ip' can never be ('::ffff:198.51.100.10', "
         f"'localhost'): {carried}", "write '198.51.100.10' at lists/blocked_ips.txt:2; correct or remove "
         "'localhost' at lists/blocked_ips.txt:3"),
    ]
