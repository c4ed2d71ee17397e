"""A representative AuthorizeDrawdown response, pinned to its bytes: a twelve-month level-payment schedule from a
month's end (Feb 29 of a leap year, then clamped month ends), a reason, a fraud flag and the meta. The response and
the schedule are built on every drawdown call and tuned for speed; this keeps what goes on the wire unchanged."""

from datetime import UTC, date, datetime
from decimal import Decimal

from service.api.responses import drawdown_response
from service.app.results import DrawdownResult, FlagView, Meta, ReasonView
from service.domain.model import RepaymentMethod
from service.domain.schedule import build_schedule
from service.engine.model import Outcome, Severity

PINNED = bytes.fromhex(
    "0801120764645f303132331a0a0a03434e59108092f40122230801120a323032342d30322d32391a090a03434e5910d4df05"
    "22080a03434e5910e06c22230802120a323032342d30332d33311a090a03434e5910a4e10522080a03434e5910906b222308"
    "03120a323032342d30342d33301a090a03434e5910caed0522080a03434e5910ea5e22230804120a323032342d30352d3331"
    "1a090a03434e5910dcf30522080a03434e5910d85822230805120a323032342d30362d33301a090a03434e5910d3ff052208"
    "0a03434e5910e14c22230806120a323032342d30372d33311a090a03434e5910cd860622080a03434e5910e7452223080712"
    "0a323032342d30382d33311a090a03434e59109b900622080a03434e5910993c22230808120a323032342d30392d33301a09"
    "0a03434e5910c89b0622080a03434e5910ec3022230809120a323032342d31302d33311a090a03434e5910e6a30622080a03"
    "434e5910ce282223080a120a323032342d31312d33301a090a03434e5910e1ae0622080a03434e5910d31d2223080b120a32"
    "3032342d31322d33311a090a03434e5910efb70622080a03434e5910c5142223080c120a323032352d30312d33311a090a03"
    "434e5910a9c00622080a03434e5910a90a2a05302e31343632100a025231120672756c655f611a026f6b3a220a0a4e45575f"
    "444556494345120672756c655f621803220a6e65772064657669636542340a056465635f31120276371a097368613235363a"
    "6162220672756c655f61220672756c655f622a0c08bffb9ecd0610f8e5b8a803"
)


def test_a_drawdown_response_keeps_its_bytes() -> None:
    result = DrawdownResult(
        outcome=Outcome.APPROVE,
        drawdown_id="dd_0123",
        available_limit=4_000_000,
        schedule=build_schedule(
            1_200_000, 12, RepaymentMethod.EQUAL_INSTALLMENT, Decimal("0.0004"), date(2024, 1, 31)
        ),
        apr=Decimal("0.14600"),
        reasons=(ReasonView("R1", "rule_a", "ok"),),
        flags=(FlagView("NEW_DEVICE", "rule_b", Severity.MEDIUM, "new device"),),
        meta=Meta("dec_1", "v7", "sha256:ab", ("rule_a", "rule_b"), datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)),
    )

    assert drawdown_response(result).SerializeToString(deterministic=True) == PINNED
