"""The six use cases behind the RPCs. Each decides one call under one rule bundle, inside one transaction."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from service.app.activity import AccountEvent, observe
from service.app.clock import business_date
from service.app.commands import (
    ApplicantInput,
    DrawdownCommand,
    GrantCommand,
    RepaymentCommand,
    ScoreCommand,
    TransactionCommand,
)
from service.app.facts import Facts, drawdown_facts
from service.app.ports import Clock, Store, UnitOfWork
from service.app.pseudonyms import Pseudonyms
from service.app.recording import Call, Decided, DecisionContext, DecisionRecorder, Reply
from service.app.results import (
    CreditLineView,
    DrawdownResult,
    FlagResult,
    GrantResult,
    Meta,
    RepaymentResult,
    ScoreResult,
)
from service.app.rules import RulesProvider, combined_outcome, flags_of, reasons_of, risk_level
from service.app.scoring import eligibility, eligibility_reasons, offer_limit, score_applicant, service_reason
from service.domain.errors import FieldViolation, InvalidRequest, NoRuleBundle, UnknownCreditLine
from service.domain.limits import apr
from service.domain.model import CreditLine, Drawdown, EventType, HistoryEvent, Installment, LineStatus
from service.domain.money import decimal_text
from service.domain.schedule import build_schedule
from service.engine.bundle import RuleBundle
from service.engine.catalogue import RuleSetKind
from service.engine.model import Outcome

LEDGER_RULE = "LEDGER"  # rule_id of the checks the ledger makes whatever the rules say
DRAWDOWN_RULES = (RuleSetKind.DRAWDOWN, RuleSetKind.FRAUD)  # what an AuthorizeDrawdown evaluates
FRAUD_RULES = (RuleSetKind.FRAUD,)  # what a FlagTransaction evaluates


class DecisionApp:
    """Entry point of the application layer; the transport calls exactly one method per RPC."""

    def __init__(self, store: Store, rules: RulesProvider, clock: Clock) -> None:
        self._store = store
        self._rules = rules
        self._clock = clock
        self._pseudonyms = Pseudonyms(store.pseudonym_key())
        self._recorder = DecisionRecorder(store, clock)

    def now(self) -> datetime:
        return self._clock.now()

    def user_key(self, user_id: str) -> str:
        return self._pseudonyms.user_key(user_id)

    def _call(
        self,
        rpc: str,
        request_id: str | None,
        command: object,
        user_key: str,
        bundle: RuleBundle | None,
        *,
        serialize_on_user: bool = False,
        reads_history: bool = False,
    ) -> Call:
        return Call(
            rpc=rpc,
            request_id=request_id,
            request_digest=self._pseudonyms.request_digest(rpc, command),
            user_key=user_key,
            ruleset_version=bundle.version if bundle else "",
            ruleset_digest=bundle.digest if bundle else "",
            serialize_on_user=serialize_on_user,
            reads_history=reads_history,
        )

    def _replay_without_rules(self, rpc: str, request_id: str, command: object, user_id: str) -> Reply:
        """Without a valid rule bundle nothing can be decided, but a retry of a call decided before is answered
        from the record as it was; any other call is refused (NoRuleBundle)."""
        call = self._call(rpc, request_id, command, self.user_key(user_id), None)
        reply = self._recorder.replay_recorded(call)
        if reply is None:
            raise NoRuleBundle()
        return reply

    def _facts_read(self, bundle: RuleBundle, kinds: tuple[RuleSetKind, ...], facts: Facts,
                    reads: frozenset[str]) -> dict[str, object]:
        """For the record of an account event's decision, the facts its rules read besides those every record
        keeps, and only when they read them: a line's days past due and rate, the city, the IP (as a keyed hash),
        the features of the user's history (by their names in the rules: `features.drawdowns_last_hour`), and of the
        values the record keeps only as keyed hashes, which were on the lists the rules look in and which equalled
        a text the rules compare them with (`channel.ip == '10.9.9.9'`). So the record alone says why a velocity
        rule referred a call, without the history being worked through again, and why a rule naming an IP did."""
        seen: dict[str, object] = {}
        for field, key in _recorded_when_read(reads):
            if field in facts:
                value = facts[field]
                seen[key] = decimal_text(value) if isinstance(value, Decimal) else value
        if "channel.ip" in reads:
            seen["ip"] = self._pseudonyms.identifier("ip", str(facts.get("channel.ip", "")))
        if listed := bundle.lists_holding(kinds, facts) + bundle.texts_equalled(kinds, KEPT_AS_KEYED_HASH, facts):
            seen["listed"] = listed
        return seen

    @staticmethod
    def _meta(bundle: RuleBundle | None, context: DecisionContext, fired: tuple[str, ...]) -> Meta:
        return Meta(
            decision_id=context.decision_id,
            ruleset_version=bundle.version if bundle else "",
            ruleset_digest=bundle.digest if bundle else "",
            rules_fired=fired,
            decided_at=context.now,
        )

    def attribute_violations(self, attributes: dict[str, object]) -> list[FieldViolation]:
        """What the serving bundle finds wrong with these applicant attributes; none without a valid bundle."""
        try:
            self._rules.current().check_attributes(attributes)
        except InvalidRequest as refused:
            return refused.violations
        except NoRuleBundle:
            pass
        return []

    # --- DecisionService -------------------------------------------------------------------------------

    def score_user(self, command: ScoreCommand, encode: Callable[[ScoreResult], bytes]) -> Reply:
        try:
            bundle = self._rules.current()
        except NoRuleBundle:
            return self._replay_without_rules("ScoreUser", command.request_id, command, command.applicant.user_id)

        def decide(_uow: UnitOfWork, context: DecisionContext) -> Decided[ScoreResult]:
            bundle.check_attributes(command.applicant.attributes)  # in here: a retry decided before is replayed
            scored = score_applicant(bundle, command.applicant)
            result = ScoreResult(
                scored.score, scored.band, scored.reasons, self._meta(bundle, context, scored.rules_fired)
            )
            return Decided(result, scored.band, scored.rules_fired, _minimised_applicant(command.applicant, bundle))

        user_key = self.user_key(command.applicant.user_id)
        call = self._call("ScoreUser", command.request_id, command, user_key, bundle)
        return self._recorder.run(call, decide, encode)

    def grant_limit(self, command: GrantCommand, encode: Callable[[GrantResult], bytes]) -> Reply:
        try:
            bundle = self._rules.current()
        except NoRuleBundle:
            return self._replay_without_rules("GrantLimit", command.request_id, command, command.applicant.user_id)
        user_key = self.user_key(command.applicant.user_id)

        def decide(uow: UnitOfWork, context: DecisionContext) -> Decided[GrantResult]:
            # Checked in here: a retry decided before by a bundle that did not declare an attribute is replayed.
            bundle.check_attributes(command.applicant.attributes)
            scored = score_applicant(bundle, command.applicant)
            fired = eligibility(bundle, scored)
            outcome = combined_outcome(fired)
            reasons = eligibility_reasons(fired, scored)
            rules_fired = scored.rules_fired + tuple(f.rule_id for f in fired)
            limit, rate, annual = 0, None, None
            if outcome is Outcome.APPROVE:
                offer = offer_limit(bundle, scored)
                outcome, reasons = offer.outcome, [*reasons, *offer.reasons]
                rules_fired += offer.rules_fired
                if offer.outcome is Outcome.APPROVE and offer.daily_rate is not None:
                    limit, rate, annual = offer.credit_limit, offer.daily_rate, offer.apr
                    country = command.applicant.country
                    _open_or_update_line(uow, context.line, user_key, limit, offer.daily_rate, country, context.now)
                    if context.line is not None and context.line.status is LineStatus.FROZEN:
                        # The limit is set, but nothing can be drawn: the answer says so, as the record does.
                        reasons.append(service_reason(bundle, "LINE_NOT_ACTIVE", LEDGER_RULE))
            result = GrantResult(
                outcome,
                limit,
                rate,
                annual,
                scored.score,
                tuple(reasons),
                self._meta(bundle, context, rules_fired),
            )
            minimised = _minimised_applicant(command.applicant, bundle)
            if context.line is not None:  # its status decides whether the limit can be drawn (LINE_NOT_ACTIVE)
                minimised["line_status"] = context.line.status.value
            return Decided(result, outcome.value, rules_fired, minimised)

        call = self._call(
            "GrantLimit", command.request_id, command, user_key, bundle, serialize_on_user=True
        )
        return self._recorder.run(call, decide, encode)

    def authorize_drawdown(self, command: DrawdownCommand, encode: Callable[[DrawdownResult], bytes]) -> Reply:
        try:
            bundle = self._rules.current()
        except NoRuleBundle:
            return self._replay_without_rules("AuthorizeDrawdown", command.request_id, command, command.user_id)
        user_key = self.user_key(command.user_id)

        def decide(uow: UnitOfWork, context: DecisionContext) -> Decided[DrawdownResult]:
            minimised = _minimised_drawdown(command)
            line = context.line
            if line is None:
                reason = service_reason(bundle, "NO_CREDIT_LINE", LEDGER_RULE)
                result = DrawdownResult(
                    Outcome.DECLINE, "", 0, (), None, (reason,), (), self._meta(bundle, context, ())
                )
                return Decided(result, Outcome.DECLINE.value, (), minimised)
            new_id = new_drawdown_id()  # the drawdown's and its history record's, if it is approved
            event = AccountEvent(
                user_key, EventType.DRAWDOWN, command.amount, context.now, command.channel, "", "", new_id
            )
            reads = bundle.reads(*DRAWDOWN_RULES)
            facts, record = observe(uow, self._pseudonyms, event, line, context.now, reads)
            minimised.update(_what_the_rules_saw(record, line))
            minimised.update(self._facts_read(bundle, DRAWDOWN_RULES, facts, reads))
            facts.update(drawdown_facts(command, facts["transaction.share_of_available_limit"]))
            policy = bundle.evaluate(RuleSetKind.DRAWDOWN, facts)
            fraud = bundle.evaluate(RuleSetKind.FRAUD, facts)
            fired = [*policy, *fraud]
            rules_fired = tuple(f.rule_id for f in fired)
            outcome = combined_outcome(fired)
            reasons = reasons_of(fired)
            annual = apr(line.daily_interest_rate, bundle.limits.days_per_year)
            # What the ledger refuses whatever the rules say is declined, not sent to a review that could never
            # approve it (an approval is then checked again by the ledger's own conditional update).
            # Its reason goes first: it declined, where the rules' reasons only referred.
            if outcome is not Outcome.DECLINE and line.status is not LineStatus.ACTIVE:
                outcome = Outcome.DECLINE
                reasons.insert(0, service_reason(bundle, "LINE_NOT_ACTIVE", LEDGER_RULE))
            elif outcome is Outcome.REVIEW and command.amount > line.available_limit:
                outcome = Outcome.DECLINE
                reasons.insert(0, service_reason(bundle, "INSUFFICIENT_LIMIT", LEDGER_RULE))
            schedule: tuple[Installment, ...] = ()
            drawdown_id, available = "", line.drawable
            if outcome is Outcome.APPROVE:
                drawdown = Drawdown(
                    drawdown_id=new_id,
                    user_key=user_key,
                    amount=command.amount,
                    term_months=command.term_months,
                    repayment_method=command.repayment_method,
                    daily_interest_rate=line.daily_interest_rate,
                    purpose=command.purpose,
                    created_at=context.now,
                    schedule=build_schedule(
                        command.amount,
                        command.term_months,
                        command.repayment_method,
                        line.daily_interest_rate,
                        business_date(context.now),
                    ),
                )
                after = uow.draw_down(drawdown)
                if after is None:
                    outcome = Outcome.DECLINE
                    reasons.insert(0, service_reason(bundle, "INSUFFICIENT_LIMIT", LEDGER_RULE))
                else:
                    uow.append_event(record)
                    drawdown_id, schedule, available = (
                        drawdown.drawdown_id,
                        drawdown.schedule,
                        after.drawable,
                    )
            result = DrawdownResult(
                outcome,
                drawdown_id,
                available,
                schedule,
                annual,
                tuple(reasons),
                flags_of(fraud),
                self._meta(bundle, context, rules_fired),
            )
            return Decided(result, outcome.value, rules_fired, minimised)

        call = self._call(
            "AuthorizeDrawdown",
            command.request_id,
            command,
            user_key,
            bundle,
            serialize_on_user=True,
            reads_history=True,
        )
        return self._recorder.run(call, decide, encode)

    def flag_transaction(self, command: TransactionCommand, encode: Callable[[FlagResult], bytes]) -> Reply:
        try:
            bundle = self._rules.current()
        except NoRuleBundle:
            return self._replay_without_rules("FlagTransaction", command.request_id, command, command.user_id)
        user_key = self.user_key(command.user_id)

        def decide(uow: UnitOfWork, context: DecisionContext) -> Decided[FlagResult]:
            line = context.line
            event = AccountEvent(
                user_key,
                command.event_type,
                command.amount,
                _no_later_than(command.occurred_at, context.now),
                command.channel,
                command.counterparty_id,
                command.merchant_category,
                self._pseudonyms.identifier("txn", command.transaction_id),
            )
            reads = bundle.reads(*FRAUD_RULES)
            facts, record = observe(uow, self._pseudonyms, event, line, context.now, reads)
            fired = bundle.evaluate(RuleSetKind.FRAUD, facts)
            uow.append_event(record)
            rules_fired = tuple(f.rule_id for f in fired)
            outcome = combined_outcome(fired)
            result = FlagResult(risk_level(fired), outcome, flags_of(fired), self._meta(bundle, context, rules_fired))
            minimised = _minimised_transaction(command, event.occurred_at)
            minimised.update(_what_the_rules_saw(record, line))
            minimised.update(self._facts_read(bundle, FRAUD_RULES, facts, reads))
            # the counterparty as the history keeps it, and the history event this call appended
            minimised.update(counterparty=record.counterparty_id, event_id=record.event_id)
            return Decided(result, outcome.value, rules_fired, minimised)

        call = self._call(
            "FlagTransaction", command.request_id, command, user_key, bundle, serialize_on_user=True, reads_history=True
        )
        return self._recorder.run(call, decide, encode)

    # --- CreditLineService ------------------------------------------------------------------------------

    def get_credit_line(self, user_id: str, encode: Callable[[CreditLineView], bytes]) -> Reply:
        user_key = self.user_key(user_id)

        def decide(_uow: UnitOfWork, context: DecisionContext) -> Decided[CreditLineView]:
            if context.line is None:
                raise UnknownCreditLine()
            # The response is stored in the decision record, which never holds a raw user id: the
            # transport puts the caller's own id back into the answer it sends.
            view = _line_view("", context.line)
            return Decided(view, "OK", (), {"user": user_key})

        # Locked like the calls that change the line: a read waits for one under way and is timed after it, so that
        # the record shows each balance at a time after the call that made it and before the next one.
        call = self._call("GetCreditLine", None, user_id, user_key, None, serialize_on_user=True)
        return self._recorder.run(call, decide, encode)

    def record_repayment(self, command: RepaymentCommand, encode: Callable[[RepaymentResult], bytes]) -> Reply:
        user_key = self.user_key(command.user_id)

        def decide(uow: UnitOfWork, context: DecisionContext) -> Decided[RepaymentResult]:
            if context.line is None:
                raise UnknownCreditLine()
            line = uow.repay(user_key, command.drawdown_id, command.amount, context.now)
            uow.append_event(_repayment_event(user_key, command, context.now))
            result = RepaymentResult(line.outstanding_principal, line.drawable, self._meta(None, context, ()))
            minimised = {"user": user_key, "drawdown_id": command.drawdown_id, "amount": command.amount}
            return Decided(result, "OK", (), minimised)

        call = self._call("RecordRepayment", command.request_id, command, user_key, None, serialize_on_user=True)
        return self._recorder.run(call, decide, encode)


def _no_later_than(occurred_at: datetime | None, now: datetime) -> datetime:
    """When an account event happened, as the ledger records it: the caller's time, or now if it gave none or one
    ahead of the server's clock (a reporter's clock that runs fast: the event has happened). Recorded ahead, it would
    stay out of every later decision's history windows, which end at that decision's time, until its time came."""
    return now if occurred_at is None or occurred_at > now else occurred_at


def new_drawdown_id() -> str:
    """Unique and increasing with time (a millisecond timestamp, then randomness), so that new drawdowns are
    added at the end of the ledger's index of drawdown ids rather than on a random page of it."""
    return f"dd_{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def _open_or_update_line(
    uow: UnitOfWork, existing: CreditLine | None, user_key: str, limit: int, rate: Decimal, country: str,
    now: datetime,
) -> None:
    """An approval sets the line's limit and rate; a FROZEN line stays frozen, anything else becomes ACTIVE.
    `existing`: the line as locked for this decision."""
    status = LineStatus.FROZEN if existing and existing.status is LineStatus.FROZEN else LineStatus.ACTIVE
    uow.save_granted_line(
        CreditLine(
            user_key=user_key,
            credit_limit=limit,
            outstanding_principal=existing.outstanding_principal if existing else 0,
            daily_interest_rate=rate,
            status=status,
            residence_country=country,
            opened_at=existing.opened_at if existing else now,
            updated_at=now,
        ),
        existing,
    )


def _line_view(user_id: str, line: CreditLine) -> CreditLineView:
    return CreditLineView(
        user_id=user_id,
        credit_limit=line.credit_limit,
        outstanding_principal=line.outstanding_principal,
        available_limit=line.drawable,
        daily_interest_rate=line.daily_interest_rate,
        status=line.status.value,
    )


def _repayment_event(user_key: str, command: RepaymentCommand, now: datetime) -> HistoryEvent:
    return HistoryEvent(user_key=user_key, event_type=EventType.REPAYMENT, occurred_at=now, amount=command.amount)


def _minimised_applicant(applicant: ApplicantInput, bundle: RuleBundle) -> dict[str, object]:
    """Everything the rules saw about the applicant except the user id (stored as its keyed hash), and of its
    attributes those the bundle declares (RuleBundle.recorded_attributes)."""
    minimised = {k: v for k, v in vars(applicant).items() if k not in ("user_id", "attributes")}
    minimised["attributes"] = bundle.recorded_attributes(applicant.attributes)
    return minimised


def _what_the_rules_saw(record: HistoryEvent, line: CreditLine | None) -> dict[str, object]:
    """For the record of an account event's decision, what besides the request its rules were given: the device as
    the history keeps it (a keyed hash, never the caller's id) and the line as it stood (nothing without a line).
    With the history before `decided_at`, an auditor can work out every fact the rules saw. Flat, not nested: a
    nested mapping costs the record's canonical JSON three times as much."""
    if line is None:
        return {"device": record.device_id}
    return {
        "device": record.device_id,
        "line_status": line.status.value,
        "line_credit_limit": line.credit_limit,
        "line_outstanding": line.outstanding_principal,
        "line_residence_country": line.residence_country,
    }


@functools.cache
def _recorded_when_read(reads: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """Of the fields a bundle's rules read, those a record keeps, each with the key it keeps it under:
    RECORDED_WHEN_READ's, and the history features under their own names (worked out once per bundle and rule sets)."""
    kept = [(field, key) for field, key in RECORDED_WHEN_READ if field in reads]
    return (*kept, *((field, field) for field in sorted(reads) if field.startswith("features.")))


# The facts a record keeps only as keyed hashes (`device`, `counterparty`, `ip`), empty when they were: a rule that
# compares one with a text is explained by its `listed` entry `channel.ip == '10.9.9.9'`, kept when the value was it.
KEPT_AS_KEYED_HASH = ("channel.device_id", "channel.ip", "transaction.counterparty_id")

# Facts the record keeps only when a rule read them (RuleBundle.reads), by the key it keeps them under.
RECORDED_WHEN_READ = (
    ("line.days_past_due", "line_days_past_due"),
    ("line.daily_interest_rate", "line_daily_interest_rate"),
    ("channel.city", "channel_city"),
    ("transaction.merchant_category", "merchant_category"),  # free text, which can tell of a person's health, say
)


def _minimised_drawdown(command: DrawdownCommand) -> dict[str, object]:
    return {
        "amount": command.amount,
        "term_months": command.term_months,
        "repayment_method": command.repayment_method.value,
        "purpose": command.purpose,
        "channel_country": command.channel.country,
    }


def _minimised_transaction(command: TransactionCommand, placed_at: datetime) -> dict[str, object]:
    """The event as sent, and, when the history holds it at another time than the one sent (a time ahead of the
    server's clock, held at the decision's), that time as `occurred_at_recorded`: so whoever rebuilds a history
    from records places the event where the rules placed it. Only then, so that the records of every other event
    read as before (the request digest is of the request as sent, whatever the record keeps)."""
    minimised: dict[str, object] = {
        "type": command.event_type.value,
        "amount": command.amount,
        "occurred_at": command.occurred_at.isoformat() if command.occurred_at else None,
        "channel_country": command.channel.country,
    }
    if command.occurred_at is not None and placed_at != command.occurred_at:
        minimised["occurred_at_recorded"] = placed_at.isoformat()
    return minimised
