"""Reading the decision rule files: eligibility.yaml, drawdown.yaml, fraud.yaml.

    rules:
      - id: FRD-001
        description: Fourth drawdown within an hour
        when: transaction.type == 'DRAWDOWN' and features.drawdowns_last_hour >= 3
        then:
          outcome: REVIEW          # APPROVE, DECLINE or REVIEW
          flag: VELOCITY_HOURLY    # fraud only: the flag code; also the reason unless `reason` is given
          severity: MEDIUM         # fraud only: NONE, LOW, MEDIUM, HIGH
          message: ...             # optional: overrides the message declared for the code in bundle.yaml

Eligibility and drawdown rules give `reason` instead of flag/severity; eligibility rules may set
`attach_score_reasons: true` to attach the scorecard's adverse-action reasons (the low-score decline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from yaml.nodes import Node, ScalarNode

from service.engine import problems as P
from service.engine.catalogue import FieldType, RuleSetKind
from service.engine.compiler import CompiledRuleSet, compile_rules
from service.engine.constant_parts import constant_parts, describe
from service.engine.context import LoadContext, scalar_node
from service.engine.model import FiredRule, Outcome, Severity
from service.engine.nodes import Expr
from service.engine.problems import ExprIssue
from service.engine.satisfy import always_matches, never_matches, why_never
from service.engine.typecheck import Scope, suggest
from service.engine.yamlsrc import FileReader, SourceFile, compose

MAX_RULES_PER_FILE = 2000
MAX_RULE_MESSAGE = 500  # characters of a rule's `message:` (docs/rules.md, How rules run)
E = TypeVar("E", Outcome, Severity)


@dataclass(frozen=True)
class RuleSpec:
    rule_id: str
    description: str
    file: str
    line: int
    when: str  # the condition as written
    expr: Expr
    result: FiredRule  # what the rule contributes when it matches


@dataclass(frozen=True)
class RuleFile:
    kind: RuleSetKind
    rules: tuple[RuleSpec, ...]
    compiled: CompiledRuleSet


def read_rule_file(src: SourceFile, kind: RuleSetKind, ctx: LoadContext) -> RuleFile | None:
    """The rules of one decision rule file, compiled; None when the file has errors (all reported)."""
    errors_before = sum(1 for p in ctx.problems if p.is_error)
    reader = FileReader(src, ctx.problems)
    root = compose(src, ctx.problems)
    if root is None:
        return None
    top = reader.mapping(root, "the file", ("rules",), ("description",))
    if top is None or "rules" not in top:
        return None
    items = reader.sequence(top["rules"], "'rules'")
    if items is None:
        return None
    if len(items) > MAX_RULES_PER_FILE:
        reader.report(P.TOO_LARGE, top["rules"], f"the file has {len(items)} rules; at most {MAX_RULES_PER_FILE}",
                      "split the policy or merge rules that share a reason")
        return None
    scope = ctx.scope(kind)
    specs: list[RuleSpec] = []
    when_nodes: list[ScalarNode] = []
    for item in items:
        read = _read_rule(reader, item, kind, ctx, scope)
        if read is not None:
            specs.append(read[0])
            when_nodes.append(read[1])
    # compiled even when other rules have errors, so that contradictions are reported in the same run
    compiled = compile_rules(kind.value, scope, [(s.rule_id, s.expr) for s in specs])
    for spec, rule, node in zip(specs, compiled.rules, when_nodes, strict=True):
        if never_matches(rule.cond, compiled.sources):
            reason, hint = why_never(rule.cond, compiled.sources) or (
                "its condition contradicts itself, or asks for a value no request carries",
                "check the bounds and values; e.g. 'x > 5 and x < 3' is never true, nor 'applicant.age > 130' "
                "(docs/rules.md gives the values requests carry)")
            reader.report(P.NEVER_MATCHES, node, f"this rule can never match: {reason}", hint, spec.rule_id)
        elif always_matches(rule.cond, compiled.sources):
            reader.report(P.ALWAYS_MATCHES, node, "this rule matches every request",
                          "check the condition; a rule that always matches decides every case", spec.rule_id)
        else:
            for found in constant_parts(spec.expr, scope):
                message, hint = describe(found, node.value[found.part.span.start:found.part.span.end])
                reader.report_expression(node, ExprIssue(P.CONSTANT_PART, found.part.span.start, message, hint),
                                         spec.rule_id)
    if sum(1 for p in ctx.problems if p.is_error) > errors_before:
        return None
    return RuleFile(kind, tuple(specs), compiled)


def _read_rule(reader: FileReader, item: Node, kind: RuleSetKind, ctx: LoadContext,
               scope: Scope) -> tuple[RuleSpec, ScalarNode] | None:
    rule = reader.mapping(item, "a rule", ("id", "description", "when", "then"), rule_id=reader.peek(item, "id"))
    if rule is None:
        return None
    rule_id = ctx.claim_id(reader, rule.get("id"), "the rule id") if "id" in rule else None
    label = rule_id or reader.peek(item, "id") or "(no id)"
    description = reader.text(rule.get("description"), "the description", label) if "description" in rule else None
    parsed = None
    if "when" in rule:
        parsed = ctx.expression(reader, rule["when"], scope, label, "the condition", (FieldType.BOOL,))
    result = _read_then(reader, rule.get("then"), kind, ctx, label) if "then" in rule else None
    when_node = scalar_node(rule.get("when"))
    if rule_id is None or description is None or parsed is None or result is None or when_node is None:
        return None
    line = (reader.where(item)[0] or 0)
    spec = RuleSpec(rule_id, description, reader.src.display, line, when_node.value, parsed[0],
                    _with_id(result, rule_id))
    return spec, when_node


def _with_id(result: FiredRule, rule_id: str) -> FiredRule:
    return FiredRule(rule_id, result.outcome, result.reason_code, result.message, result.flag_code,
                     result.severity, result.with_score_reasons)


def _read_then(reader: FileReader, node: Node | None, kind: RuleSetKind, ctx: LoadContext,
               rule_id: str) -> FiredRule | None:
    if kind is RuleSetKind.FRAUD:
        then = reader.mapping(node, "'then'", ("outcome", "flag", "severity"), ("reason", "message"), rule_id)
    elif kind is RuleSetKind.ELIGIBILITY:
        then = reader.mapping(node, "'then'", ("outcome", "reason"), ("message", "attach_score_reasons"), rule_id)
    else:
        then = reader.mapping(node, "'then'", ("outcome", "reason"), ("message",), rule_id)
    if then is None:
        return None
    outcome = _enum(reader, then.get("outcome"), Outcome, "outcome", P.UNKNOWN_OUTCOME, rule_id)
    flag = severity = None
    if kind is RuleSetKind.FRAUD:
        flag = ctx.reason(reader, then.get("flag"), rule_id, "flag") if "flag" in then else None
        severity = _enum(reader, then.get("severity"), Severity, "severity", P.UNKNOWN_SEVERITY, rule_id)
        reason = ctx.reason(reader, then["reason"], rule_id) if "reason" in then else flag
    else:
        reason = ctx.reason(reader, then["reason"], rule_id) if "reason" in then else None
    message = reader.text(then["message"], "the message", rule_id, MAX_RULE_MESSAGE) if "message" in then else None
    attach = False
    if "attach_score_reasons" in then:
        attach = bool(reader.boolean(then["attach_score_reasons"], "attach_score_reasons", rule_id))
    if outcome is None or reason is None or (kind is RuleSetKind.FRAUD and (flag is None or severity is None)):
        return None
    text = message or ctx.reasons.get(reason, "")
    return FiredRule(rule_id, outcome, reason, text, flag, severity, attach)


def _enum(reader: FileReader, node: Node | None, enum: type[E], what: str,
          code: P.ProblemCode, rule_id: str) -> E | None:
    if node is None:
        return None
    value = reader.text(node, f"the {what}", rule_id)
    if value is None:
        return None
    names = [e.value for e in enum]
    if value in names:
        return enum(value)
    close = value.upper() if value.upper() in names else suggest(value.upper(), names)
    extra = f" (did you mean '{close}'?)" if close else ""
    reader.report(code, node, f"unknown {what} '{value}'{extra}", f"write one of {', '.join(names)}", rule_id)
    return None
