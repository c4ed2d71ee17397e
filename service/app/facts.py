"""Facts: the flat, catalogue-named values the rules see, built from commands, the ledger and features."""

from __future__ import annotations

from decimal import Decimal

from service.app.commands import ApplicantInput, ChannelInput, DrawdownCommand
from service.domain.model import CreditLine
from service.engine.catalogue import ATTRIBUTES_PREFIX

Facts = dict[str, object]


def applicant_facts(applicant: ApplicantInput) -> Facts:
    facts: Facts = {
        "applicant.age": applicant.age,
        "applicant.real_name_verified": applicant.real_name_verified,
        "applicant.agreement_signed": applicant.agreement_signed,
        "applicant.annual_income": applicant.annual_income,
        "applicant.monthly_spend_avg": applicant.monthly_spend_avg,
        "applicant.active_spend_months": applicant.active_spend_months,
        "applicant.on_time_repayments_24m": applicant.on_time_repayments_24m,
        "applicant.overdue_count_24m": applicant.overdue_count_24m,
        "applicant.max_days_overdue_24m": applicant.max_days_overdue_24m,
        "applicant.credit_inquiries_6m": applicant.credit_inquiries_6m,
        "applicant.financial_assets": applicant.financial_assets,
        "applicant.account_age_months": applicant.account_age_months,
        "applicant.verified_contacts": applicant.verified_contacts,
        "applicant.country": applicant.country,
    }
    for name, value in applicant.attributes.items():
        facts[ATTRIBUTES_PREFIX + name] = value
    return facts


def score_facts(score: int, band: str) -> Facts:
    return {"score.value": score, "score.band": band}


def line_facts(line: CreditLine | None, days_past_due: int | None) -> Facts:
    """The credit line's facts (those of no line when None). line.days_past_due only when given: None means it was
    not worked out, because no rule of the call reads it."""
    if line is None:
        facts: Facts = {
            "line.status": "NONE",
            "line.credit_limit": 0,
            "line.outstanding_principal": 0,
            "line.available_limit": 0,
            "line.daily_interest_rate": Decimal(0),
            "line.residence_country": "",
        }
    else:
        facts = {
            "line.status": line.status.value,
            "line.credit_limit": line.credit_limit,
            "line.outstanding_principal": line.outstanding_principal,
            "line.available_limit": line.available_limit,
            "line.daily_interest_rate": line.daily_interest_rate,
            "line.residence_country": line.residence_country,
        }
    if days_past_due is not None:
        facts["line.days_past_due"] = days_past_due
    return facts


def channel_facts(channel: ChannelInput) -> Facts:
    return {
        "channel.device_id": channel.device_id,
        "channel.ip": channel.ip,
        "channel.country": channel.country,
        "channel.city": channel.city,
    }


def drawdown_facts(command: DrawdownCommand, share_of_available_limit: object) -> Facts:
    return {
        "drawdown.amount": command.amount,
        "drawdown.term_months": command.term_months,
        "drawdown.repayment_method": command.repayment_method.value,
        "drawdown.purpose": command.purpose,
        "drawdown.share_of_available_limit": share_of_available_limit,
    }
