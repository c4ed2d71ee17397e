"""Errors the engine raises on purpose. They carry fields; api/status.py decides how callers see them."""

from __future__ import annotations

from service.domain.errors import DecisionServiceError, FieldViolation, InvalidRequest
from service.engine.problems import RuleProblem


class BundleInvalid(DecisionServiceError):
    """A rule bundle cannot be loaded. `problems` holds every error found (and the warnings)."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        errors = [p for p in problems if p.is_error]
        first = errors[0].headline() if errors else "invalid rule bundle"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)
        self.problems = problems

    @property
    def errors(self) -> list[RuleProblem]:
        return [p for p in self.problems if p.is_error]


class InvalidFact(InvalidRequest):
    """A value handed to the rules is missing, of the wrong kind or out of range. `field` is its dotted name
    (e.g. `applicant.attributes.employment_months`), so the caller can be told which input is wrong."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__([FieldViolation(field, description)])
        self.field = field
        self.description = description


class EngineFailure(DecisionServiceError):
    """The rule engine returned an error for a fact that passed validation (a service defect)."""

    def __init__(self, ruleset: str, detail: str) -> None:
        super().__init__(f"rule engine failed on {ruleset}: {detail}")
        self.ruleset = ruleset
        self.detail = detail
