"""ScoreUser and GrantLimit: scorecard, eligibility and limits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from service.app.commands import ApplicantInput
from service.app.facts import Facts, applicant_facts, score_facts
from service.app.results import ReasonView
from service.app.rules import decisive_first
from service.domain.limits import LimitDecision, apr, final_limit, within_apr_cap
from service.domain.scorecard import compute_score
from service.engine.bundle import RuleBundle
from service.engine.catalogue import RuleSetKind
from service.engine.model import BandOffer, CapValue, FiredRule, Outcome


@dataclass(frozen=True)
class Scored:
    score: int
    band: str
    reasons: tuple[ReasonView, ...]  # adverse-action reasons, most important first
    rules_fired: tuple[str, ...]
    facts: Facts  # applicant and score facts, for the rule sets that follow


def score_applicant(bundle: RuleBundle, applicant: ApplicantInput) -> Scored:
    """Runs the scorecard: score, band and the principal reasons the score is not higher."""
    facts = applicant_facts(applicant)
    matches = bundle.score_bins(facts)
    card = bundle.scorecard
    outcome = compute_score(card, matches)
    band = outcome.band or ""
    reasons = tuple(ReasonView(c.reason_code, c.characteristic_id, c.reason_message) for c in outcome.reasons)
    return Scored(
        score=outcome.score,
        band=band,
        reasons=reasons,
        rules_fired=tuple(m.bin_rule_id for m in matches),
        facts={**facts, **score_facts(outcome.score, band)},
    )


@dataclass(frozen=True)
class LimitDerivation:
    """How a limit was worked out, step by step, for `rules explain`; the service answers none of it."""

    band: str
    offer: BandOffer | None  # None: no credit is offered in the band
    rate_within_apr_cap: bool = True  # False: the band's rate is above the APR cap, and nothing was capped
    caps: tuple[CapValue, ...] = ()  # every cap for this applicant, in bundle order
    decision: LimitDecision[CapValue] | None = None  # the lowest of base and caps, rounded, against the minimum


@dataclass(frozen=True)
class LimitOffer:
    outcome: Outcome
    credit_limit: int
    daily_rate: Decimal | None  # set when offered
    apr: Decimal | None
    reasons: tuple[ReasonView, ...]
    rules_fired: tuple[str, ...]
    derivation: LimitDerivation


def eligibility_reasons(fired: list[FiredRule], scored: Scored) -> list[ReasonView]:
    """Reasons of the rules that declined or referred, the decisive first; a low-score decline carries the
    scorecard's reasons."""
    reasons: list[ReasonView] = []
    for rule in decisive_first(fired):
        if rule.outcome is Outcome.APPROVE:
            continue
        reasons.append(ReasonView(rule.reason_code, rule.rule_id, rule.message))
        if rule.with_score_reasons:
            reasons.extend(r for r in scored.reasons if r not in reasons)
    return reasons


LIMITS_RULE = "LIMITS"  # rule_id of the limit policy's own reasons (caps carry their own ids)

# The reasons the service gives itself, not a rule: each code with its message when bundle.yaml declares none.
SERVICE_REASONS = {
    "NO_CREDIT_LINE": "the user has no credit line",
    "LINE_NOT_ACTIVE": "the credit line is not active",
    "INSUFFICIENT_LIMIT": "the amount exceeds the available limit",
    "RATE_ABOVE_APR_CAP": "the band's rate would exceed the APR cap",
}


def bundle_reason(bundle: RuleBundle, code: str, fallback: str, rule_id: str = LIMITS_RULE) -> ReasonView:
    """A reason with the bundle's message for the code (the fallback if the bundle has none)."""
    return ReasonView(code, rule_id, bundle.reasons.get(code, fallback))


def service_reason(bundle: RuleBundle, code: str, rule_id: str = LIMITS_RULE) -> ReasonView:
    """One of the SERVICE_REASONS, with the bundle's message for it if bundle.yaml declares one."""
    return bundle_reason(bundle, code, SERVICE_REASONS[code], rule_id)


def offer_limit(bundle: RuleBundle, scored: Scored) -> LimitOffer:
    """The limit for an eligible applicant: band base, capped, rounded down; declined below the minimum."""
    spec = bundle.limits
    offer = spec.offers.get(scored.band)
    if offer is None:
        reason = bundle_reason(bundle, spec.no_offer_reason, f"no credit is offered in score band {scored.band}")
        reasons = _with_score_reasons((reason,), scored, attach=spec.no_offer_with_score_reasons)
        return LimitOffer(Outcome.DECLINE, 0, None, None, reasons, (), LimitDerivation(scored.band, None))
    if not within_apr_cap(offer.daily_rate, days_per_year=spec.days_per_year, apr_cap=spec.apr_cap):
        reason = service_reason(bundle, "RATE_ABOVE_APR_CAP")
        derivation = LimitDerivation(scored.band, offer, rate_within_apr_cap=False)
        return LimitOffer(Outcome.DECLINE, 0, None, None, (reason,), (), derivation)
    caps = bundle.caps(scored.facts)
    decision = final_limit(offer.base_limit, caps, rounding=spec.rounding, minimum=spec.minimum_limit)
    derivation = LimitDerivation(scored.band, offer, caps=tuple(caps), decision=decision)
    binding = tuple(ReasonView(c.reason_code, c.rule_id, c.message) for c in decision.binding_caps)
    fired = tuple(c.rule_id for c in decision.binding_caps)
    if not decision.offered:
        reason = bundle_reason(bundle, spec.minimum_limit_reason, "the limit is below the minimum credit line")
        # the decline, then why so low: the caps that bound, then (if limits.yaml asks) why the band's base is low
        reasons = _with_score_reasons((reason, *binding), scored, attach=spec.below_minimum_with_score_reasons)
        return LimitOffer(Outcome.DECLINE, 0, None, None, reasons, fired, derivation)
    annual = apr(offer.daily_rate, spec.days_per_year)
    return LimitOffer(Outcome.APPROVE, decision.amount, offer.daily_rate, annual, binding, fired, derivation)


def _with_score_reasons(reasons: tuple[ReasonView, ...], scored: Scored, *, attach: bool) -> tuple[ReasonView, ...]:
    """A limits decline's reasons, followed by the scorecard's if limits.yaml attaches them to it."""
    if not attach:
        return reasons
    return (*reasons, *(r for r in scored.reasons if r not in reasons))


def eligibility(bundle: RuleBundle, scored: Scored) -> list[FiredRule]:
    return bundle.evaluate(RuleSetKind.ELIGIBILITY, scored.facts)
