"""Reading limits.yaml.

    apr_cap: 0.24                  # no band may offer a daily rate whose APR (rate x days_per_year) exceeds this
    days_per_year: 365             # or 366; APR = daily_rate x days_per_year
    rounding: 100 CNY              # final limits are rounded down to a multiple of this
    minimum_limit: 1000 CNY        # a smaller final limit declines ...
    below_minimum_reason: LIMIT_BELOW_MINIMUM     # ... with this reason
    no_offer_reason: NO_OFFER_FOR_BAND            # reason when the applicant's band has no offer
    no_offer_attach_score_reasons: true           # optional (false): add the scorecard's reasons to that decline
    below_minimum_attach_score_reasons: false     # optional (false): the same for the below-minimum decline
    offers:                        # by score band; bands without an offer are not lent to
      A: {base_limit: 200000 CNY, daily_rate: 0.0002}
    caps:                          # each an amount of money; the final limit is the lowest of base and caps
      - id: LIM-INCOME
        description: At most one third of the verified annual income
        amount: applicant.annual_income / 3
        reason: CAPPED_BY_INCOME
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from yaml.nodes import MappingNode, Node, ScalarNode

from service.domain.money import format_fen_as_yuan
from service.engine import problems as P
from service.engine.amount_commas import without_commas_fix
from service.engine.catalogue import FieldType, RuleSetKind
from service.engine.context import LoadContext
from service.engine.model import BandOffer, LimitsSpec
from service.engine.nodes import Expr, Literal
from service.engine.parser import DECIMAL_PLACES, decimal_places, parse_expression
from service.engine.problems import ExprIssue
from service.engine.typecheck import suggest
from service.engine.yamlsrc import FileReader, SourceFile, compose

MAX_CAPS = 50
_REQUIRED = ("apr_cap", "days_per_year", "rounding", "minimum_limit", "below_minimum_reason", "no_offer_reason",
             "offers", "caps")
_ATTACH = ("no_offer_attach_score_reasons", "below_minimum_attach_score_reasons")  # as eligibility's option
# A cap has no condition: the final limit is the lowest of the base limit and every cap, for every applicant.
_EVERY_APPLICANT = "every cap applies to every applicant"
_NO_CAP_FOR_SOME = "a cap for some applicants only cannot be written (an eligibility rule can decline or refer " \
    "them instead)"
_CONDITION_KEYS = ("when", "if", "condition")
# A word that starts a condition, written after a cap's amount: `50000 CNY if applicant.age < 25`
_CONDITION_WORD = re.compile(r"(?<![\w.'\"])(?:if|when|unless|where|for)(?![\w.])")


@dataclass(frozen=True)
class CapSpec:
    cap_id: str
    description: str
    expr: Expr  # an amount of money (fen)
    reason_code: str
    message: str
    file: str
    line: int


@dataclass(frozen=True)
class Limits:
    spec: LimitsSpec
    caps: tuple[CapSpec, ...]


def read_limits(src: SourceFile, ctx: LoadContext) -> Limits | None:
    """The limits policy; None when it has errors (all reported)."""
    errors_before = sum(1 for p in ctx.problems if p.is_error)
    reader = FileReader(src, ctx.problems)
    root = compose(src, ctx.problems)
    if root is None:
        return None
    top = reader.mapping(root, "the limits file", _REQUIRED, ("description", *_ATTACH))
    if top is None or any(k not in top for k in _REQUIRED):
        return None
    apr_cap = reader.decimal(top["apr_cap"], "apr_cap")
    days = _days_per_year(reader, top["days_per_year"])
    rounding = money(reader, top["rounding"], "rounding", ctx.currency)
    minimum = money(reader, top["minimum_limit"], "minimum_limit", ctx.currency)
    below_reason = ctx.reason(reader, top["below_minimum_reason"], None)
    no_offer_reason = ctx.reason(reader, top["no_offer_reason"], None)
    no_offer_attach, below_minimum_attach = (reader.boolean(top[key], key) if key in top else False
                                             for key in _ATTACH)
    if apr_cap is not None and not Decimal(0) < apr_cap <= Decimal(1):
        reader.report(P.INVALID_VALUE, top["apr_cap"], "apr_cap must be above 0 and at most 1 (100 %)",
                      "write it as a decimal, e.g. 0.24 for 24 %")
        apr_cap = None
    elif apr_cap is not None and decimal_places(apr_cap) > DECIMAL_PLACES:
        reader.report(P.BAD_LITERAL, top["apr_cap"], f"apr_cap {apr_cap} has more than {DECIMAL_PLACES} decimal places",
                      f"round it to at most {DECIMAL_PLACES} decimal places")
        apr_cap = None
    if rounding is not None and rounding <= 0:
        reader.report(P.INVALID_VALUE, top["rounding"], "rounding must be a positive amount", "e.g. 100 CNY")
    if minimum is not None and minimum < 0:
        reader.report(P.INVALID_VALUE, top["minimum_limit"], "minimum_limit cannot be negative",
                      "write 0 CNY or more, e.g. 1000 CNY")
    offers = _read_offers(reader, top["offers"], ctx, apr_cap, days)
    caps = _read_caps(reader, top["caps"], ctx)
    if sum(1 for p in ctx.problems if p.is_error) > errors_before:
        return None
    assert apr_cap is not None and days is not None and rounding is not None and minimum is not None
    assert below_reason is not None and no_offer_reason is not None and offers is not None and caps is not None
    assert no_offer_attach is not None and below_minimum_attach is not None
    spec = LimitsSpec(offers, rounding, minimum, apr_cap, days, below_reason, no_offer_reason, no_offer_attach,
                      below_minimum_attach)
    return Limits(spec, tuple(caps))


def money(reader: FileReader, node: Node, what: str, currency: str) -> int | None:
    """An amount written like `1000 CNY`, in fen."""
    scalar = reader.scalar(node, what)
    if scalar is None:
        return None
    parsed = parse_expression(scalar.value, currency)
    if isinstance(parsed, Literal) and parsed.type is FieldType.MONEY:
        assert isinstance(parsed.value, int)
        return parsed.value
    if isinstance(parsed, ExprIssue) and parsed.code is P.BAD_LITERAL:  # an amount, but too precise, too large...
        reader.report(P.BAD_LITERAL, scalar, f"{what}: {parsed.message}", parsed.hint)
        return None
    written = scalar.value.strip()
    commas = without_commas_fix(written) if written.endswith(currency) else None  # `rounding: 1,000 CNY`
    reader.report(P.WRONG_SHAPE, scalar, f"{what} must be an amount such as 1000 {currency}, not '{scalar.value}'",
                  commas or f"write the number followed by {currency}")
    return None


def _days_per_year(reader: FileReader, node: Node) -> int | None:
    """365 or 366: interest is charged for every day of a drawdown, so an APR stated over a shorter year (daily rate
    x 360, say) would tell consumers less than they pay, and let a rate charging more than apr_cap pass the cap."""
    days = reader.integer(node, "days_per_year")
    if days is not None and days not in (365, 366):
        reader.report(P.INVALID_VALUE, node, f"days_per_year must be 365 or 366, not {days}: interest is charged for "
                      "every day, so a shorter year would state an APR below what consumers pay",
                      "write 365 (the APR answered is then the daily rate x 365)")
        return None
    return days


def _read_offers(reader: FileReader, node: Node, ctx: LoadContext, apr_cap: Decimal | None,
                 days: int | None) -> dict[str, BandOffer] | None:
    if not isinstance(node, MappingNode):
        reader.report(P.WRONG_SHAPE, node, "'offers' must map band names to offers", "e.g. A: {base_limit: ...}")
        return None
    offers: dict[str, BandOffer] = {}
    for key_node, value in node.value:
        band = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
        if band in offers:
            reader.report(P.DUPLICATE_ID, key_node, f"band {band} has two offers", "keep one of them")
            continue
        if ctx.band_names and band not in ctx.band_names:
            close = suggest(band, list(ctx.band_names))
            extra = f" (did you mean '{close}'?)" if close else ""
            reader.report(P.UNKNOWN_BAND, key_node, f"the scorecard has no band '{band}'{extra}",
                          "offer only for bands listed in scorecard.yaml: " + ", ".join(ctx.band_names))
            continue
        offer = reader.mapping(value, f"the offer for band {band}", ("base_limit", "daily_rate"))
        if offer is None or len(offer) < 2:
            continue
        base = money(reader, offer["base_limit"], "base_limit", ctx.currency)
        rate = reader.decimal(offer["daily_rate"], "daily_rate")
        if base is None or rate is None:
            continue
        if base <= 0:
            reader.report(P.INVALID_VALUE, offer["base_limit"], f"band {band}: the base_limit must be positive, not "
                          f"{format_fen_as_yuan(base)} {ctx.currency}",
                          "give a positive amount, or remove the offer to lend nothing to this band")
            continue
        if rate <= 0:
            reader.report(P.INVALID_VALUE, offer["daily_rate"], f"band {band}: the daily rate must be positive, not "
                          f"{rate} (the service lends only with interest)", "give a daily rate above 0, e.g. "
                          "0.0003 (about 11 % a year)")
            continue
        if decimal_places(rate) > DECIMAL_PLACES:
            reader.report(P.BAD_LITERAL, offer["daily_rate"], f"band {band}: the daily rate {rate} has more than "
                          f"{DECIMAL_PLACES} decimal places", f"round it to at most {DECIMAL_PLACES} decimal places, "
                          "e.g. 0.000657534")
            continue
        if apr_cap is not None and days is not None and rate * days > apr_cap:
            highest = (apr_cap / days).quantize(Decimal(1).scaleb(-DECIMAL_PLACES), rounding=ROUND_FLOOR)
            reader.report(P.APR_ABOVE_CAP, offer["daily_rate"],
                          f"band {band}: a daily rate of {rate} gives an APR of {rate * days}, above the cap of "
                          f"{apr_cap}", f"lower the daily rate to at most {highest}")
            continue
        offers[band] = BandOffer(base, rate)
    return offers


def _read_caps(reader: FileReader, node: Node, ctx: LoadContext) -> list[CapSpec] | None:
    items = reader.sequence(node, "'caps'")
    if items is None:
        return None
    if len(items) > MAX_CAPS:
        reader.report(P.TOO_LARGE, node, f"at most {MAX_CAPS} caps", "merge caps that give the same reason")
        return None
    scope = ctx.scope(RuleSetKind.LIMITS)
    caps: list[CapSpec] = []
    for item in items:
        cap = reader.mapping(item, "a cap", ("id", "description", "amount", "reason"), rule_id=reader.peek(item, "id"),
                             refused={key: (f"a cap cannot have a condition ('{key}:'): {_EVERY_APPLICANT}",
                                            f"remove '{key}:'; {_NO_CAP_FOR_SOME}") for key in _CONDITION_KEYS})
        if cap is None:
            continue
        cap_id = ctx.claim_id(reader, cap.get("id"), "the cap id") if "id" in cap else None
        label = cap_id or reader.peek(item, "id") or "(no id)"
        description = reader.text(cap.get("description"), "the description", label) if "description" in cap else None
        reason = ctx.reason(reader, cap.get("reason"), label) if "reason" in cap else None
        amount = ctx.expression(reader, cap.get("amount"), scope, label, "the cap amount", (FieldType.MONEY,)) \
            if "amount" in cap and not _amount_with_a_condition(reader, cap["amount"], label, ctx.currency) else None
        if cap_id and description and reason and amount:
            caps.append(CapSpec(cap_id, description, amount[0], reason, ctx.reasons[reason], reader.src.display,
                                reader.where(item)[0] or 0))
    return caps


def _amount_with_a_condition(reader: FileReader, node: Node, cap_id: str, currency: str) -> bool:
    """Whether the cap's amount cannot be read because it is written with a condition; if so it is reported, as the
    parser's own fix (join two conditions with 'and' or 'or') would not help."""
    if not isinstance(node, ScalarNode) or not isinstance(parse_expression(node.value, currency), ExprIssue):
        return False
    word = _CONDITION_WORD.search(node.value)
    if word is None:
        return False
    reader.report_expression(node, ExprIssue(P.EXPR_SYNTAX, word.start(), f"a cap's amount cannot carry a condition: "
                             f"{_EVERY_APPLICANT}", f"write one amount for every applicant, without '{word.group()} "
                             f"...'; {_NO_CAP_FOR_SOME}"), cap_id)
    return True
