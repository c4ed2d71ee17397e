"""A child process that compiles rule sets and evaluates facts through durable_rules, for the differential test.

Protocol: one JSON request per line on stdin, one JSON answer per line on stdout.
    request: {"fields": [[name, type, [allowed...]], ...], "lists": {name: [...]}, "conditions": [text, ...],
              "facts": [{name: [kind, value]}, ...]}
    answer:  {"fired": [[rule index, ...] per fact]} or {"error": "..."}
If the engine crashes, this process dies and the parent reports the request that killed it.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

from service.engine.catalogue import FieldType
from service.engine.compiler import compile_rules
from service.engine.facts import normalize_facts
from service.engine.nodes import Expr
from service.engine.oracle import FactValue
from service.engine.parser import parse_expression
from service.engine.problems import ExprIssue
from service.engine.runtime import EngineRuleSet
from service.engine.typecheck import FieldSpec, Scope, check_expression


def scope_of(request: dict[str, Any]) -> Scope:
    fields = {name: FieldSpec(name, FieldType(kind), tuple(allowed)) for name, kind, allowed in request["fields"]}
    lists = {name: frozenset(values) for name, values in request["lists"].items()}
    return Scope("generated rules", fields, lists)


def checked(text: str, scope: Scope) -> Expr:
    parsed = parse_expression(text)
    if isinstance(parsed, ExprIssue):
        raise ValueError(f"{text!r}: {parsed.message}")
    kind, issues = check_expression(parsed, scope)
    if issues or kind is not FieldType.BOOL:
        raise ValueError(f"{text!r}: {[i.message for i in issues]}")
    return parsed


def decode_facts(encoded: dict[str, list[Any]]) -> dict[str, object]:
    return {name: (Decimal(value) if kind == "decimal" else value) for name, (kind, value) in encoded.items()}


def normalized(request: dict[str, Any], scope: Scope) -> list[dict[str, FactValue]]:
    return [normalize_facts(decode_facts(f), scope.fields.values(), {}) for f in request["facts"]]


def handle(request: dict[str, Any]) -> dict[str, Any]:
    scope = scope_of(request)
    rules = [(f"R{i}", checked(text, scope)) for i, text in enumerate(request["conditions"])]
    compiled = compile_rules("generated", scope, rules)
    engine = EngineRuleSet(compiled, "diff", scope.lists)
    try:
        return {"fired": [engine.fired(facts) for facts in normalized(request, scope)]}
    finally:
        engine.close()


def main() -> None:
    for line in sys.stdin:
        try:
            answer = handle(json.loads(line))
        except ValueError as err:
            answer = {"error": str(err)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
