"""What the answers were: outcome and reason/flag codes of raw responses, to show the mix was realistic."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from service._gen.decision.v1 import decision_pb2 as pb


def _codes(reasons: Iterable[pb.Reason], flags: Iterable[pb.FraudFlag] = ()) -> list[str]:
    return [r.code for r in reasons] + [f.code for f in flags]


def classify(rpc: str, raw: bytes) -> tuple[str, list[str]]:
    """(outcome, reason and flag codes) of one serialized response."""
    if rpc == "ScoreUser":
        score = pb.ScoreUserResponse.FromString(raw)
        return f"BAND_{score.band or '?'}", _codes(score.reasons)
    if rpc == "GrantLimit":
        grant = pb.GrantLimitResponse.FromString(raw)
        return pb.Outcome.Name(grant.outcome), _codes(grant.reasons)
    if rpc == "AuthorizeDrawdown":
        answer = pb.AuthorizeDrawdownResponse.FromString(raw)
        return pb.Outcome.Name(answer.outcome), _codes(answer.reasons, answer.fraud_flags)
    flag = pb.FlagTransactionResponse.FromString(raw)
    return pb.Outcome.Name(flag.outcome), _codes((), flag.flags)


def tally(answers: Iterable[tuple[str, bytes]]) -> tuple[dict[str, int], dict[str, int]]:
    """Counts of outcomes and of reason/flag codes over (rpc, raw response) pairs."""
    outcomes: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    for rpc, raw in answers:
        outcome, found = classify(rpc, raw)
        outcomes[outcome.removeprefix("OUTCOME_")] += 1
        codes.update(found)
    return dict(outcomes.most_common()), dict(codes.most_common())
