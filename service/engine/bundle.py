"""A loaded rule bundle: what the use cases ask for scores, rule outcomes and limit caps.

    bundle = load_bundle(Path("rules"))          # BundleInvalid(problems) lists every error at once
    bundle.evaluate(RuleSetKind.FRAUD, facts)     # -> [FiredRule], bundle order
    bundle.close()

`facts` is a flat mapping of catalogue names (`transaction.amount`, ...) to values: int, Decimal, int fen for
money, bool, str; plus `applicant.attributes.NAME` as the request gives them (missing or None -> default).
Only the fields the rules read are looked at; each is validated (InvalidFact names the field) before
anything reaches the engine. All methods are thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

from service.domain.errors import FieldViolation, InvalidRequest
from service.engine import oracle
from service.engine import problems as P
from service.engine.catalogue import ATTRIBUTES_PREFIX, FieldType, RuleSetKind
from service.engine.compiler import CompiledRuleSet
from service.engine.context import LoadContext
from service.engine.errors import BundleInvalid, InvalidFact
from service.engine.explain import RuleTrace, trace_rule
from service.engine.facts import FactNormalizer, normalize_attribute
from service.engine.load_limits import CapSpec
from service.engine.load_rules import RuleSpec
from service.engine.loader import DECISION_KINDS, BundleSpec, analyse, fixed_cap_amount
from service.engine.model import BinMatch, CapValue, FiredRule, LimitsSpec, ScorecardSpec
from service.engine.nodes import Compare, Expr, FieldRef, Literal, Member, children, field_refs
from service.engine.problems import RuleProblem, problem
from service.engine.runtime import EngineRuleSet, reference_fired
from service.engine.typecheck import FieldSpec


@dataclass(frozen=True)
class _Decisions:
    compiled: CompiledRuleSet
    results: tuple[FiredRule, ...]
    rules: tuple[RuleSpec, ...]


class RuleBundle:
    """A checked, compiled bundle with its engine rulesets. Create it with load_bundle()."""

    def __init__(self, spec: BundleSpec, warnings: list[RuleProblem]) -> None:
        self.version: str = spec.version
        self.digest: str = spec.digest
        self.directory: Path = spec.directory
        self.scorecard: ScorecardSpec = spec.scorecard.spec
        self.limits: LimitsSpec = spec.limits.spec
        self.attributes: dict[str, FieldType] = {
            name[len(ATTRIBUTES_PREFIX):]: a.type for name, a in spec.attributes.items()
        }
        self.reasons: dict[str, str] = dict(spec.reasons)
        self.warnings: list[RuleProblem] = list(warnings)
        self._spec = spec
        self._lists = spec.lists
        self._defaults: dict[str, oracle.FactValue] = {n: a.default for n, a in spec.attributes.items()}
        self._attribute_fields = {  # by the name a request sends
            name[len(ATTRIBUTES_PREFIX):]: FieldSpec(name, a.type, a.allowed_values)
            for name, a in spec.attributes.items()
        }
        self._normalizers: dict[int, FactNormalizer] = {}
        self._decisions = {
            kind: _Decisions(f.compiled, tuple(r.result for r in f.rules), f.rules)
            for kind, f in spec.rule_files.items()
        }
        self._reads: dict[tuple[RuleSetKind, ...], frozenset[str]] = {}  # reads(), by its arguments
        self._list_tests: dict[tuple[RuleSetKind, ...], tuple[tuple[str, str], ...]] = {}  # lists_holding()
        self._text_tests: dict[tuple[object, ...], tuple[tuple[str, str], ...]] = {}  # text_tests()
        self._texts_compared: dict[tuple[object, ...], dict[str, frozenset[str]]] = {}  # texts_compared()
        self._bins = spec.scorecard.bins
        # each bin's characteristic and what it awards, made once: a call only looks up the bins that fired
        self._bin_matches = tuple(
            (b.characteristic, BinMatch(self.scorecard.characteristics[b.characteristic].characteristic_id, b.bin_id,
                                        b.points))
            for b in self._bins
        )
        limits_scope = LoadContext([], attributes=dict(spec.attributes)).scope(RuleSetKind.LIMITS)
        cap_fields = {ref.name for cap in spec.limits.caps for ref in field_refs(cap.expr)}
        self._cap_fields = tuple(limits_scope.fields[name] for name in sorted(cap_fields))
        # each cap's expression made into a function once; a cap that names no field is the same for every
        # applicant, and is worked out once, here (None: for each applicant)
        values = [oracle.evaluator(cap.expr, self._lists) for cap in spec.limits.caps]
        self._caps = tuple((cap, value, None if field_refs(cap.expr) else _cap_value(cap, value, {}))
                           for cap, value in zip(spec.limits.caps, values, strict=True))
        self._engines: dict[RuleSetKind, EngineRuleSet] = {}
        tag = f"b{spec.digest[:12]}"
        try:
            self._engines[RuleSetKind.SCORECARD] = EngineRuleSet(spec.scorecard.compiled, tag, spec.lists)
            for kind, decisions in self._decisions.items():
                self._engines[kind] = EngineRuleSet(decisions.compiled, tag, spec.lists)
        except Exception:
            self.close()
            raise

    # -- what the use cases call -----------------------------------------------------------------------
    def rule_ids(self, kind: RuleSetKind) -> list[str]:
        """Ids in bundle order: rules for eligibility/drawdown/fraud, bins (SC-REPAY/1...) for the scorecard,
        caps for limits."""
        if kind is RuleSetKind.SCORECARD:
            return [b.bin_id for b in self._bins]
        if kind is RuleSetKind.LIMITS:
            return [c.cap_id for c in self._spec.limits.caps]
        return [r.rule_id for r in self._decisions[kind].rules]

    def check_attributes(self, attributes: Mapping[str, object]) -> None:
        """Every applicant attribute a request sends that this bundle declares must be of its declared kind, whether
        or not a rule reads it (InvalidRequest naming each one that is not). A null takes the default; a name the
        bundle does not declare is left alone, so that callers may send an attribute before the rules use it."""
        violations: list[FieldViolation] = []
        for name, value in attributes.items():
            field = self._attribute_fields.get(name)
            if field is not None and value is not None:
                try:
                    normalize_attribute(field, value)
                except InvalidFact as bad:
                    violations.extend(bad.violations)
        if violations:
            raise InvalidRequest(violations)

    def recorded_attributes(self, attributes: Mapping[str, object]) -> dict[str, object]:
        """The applicant attributes a decision's record keeps: those this bundle declares (a caller may send others,
        a name say; the rules never see them), whole numbers and money as the integers the rules saw. A request
        carries every number as a float (a protobuf Struct), and money must never be one in the ledger. Call it on
        attributes check_attributes accepted."""
        recorded: dict[str, object] = {}
        for name, value in attributes.items():
            field = self._attribute_fields.get(name)
            if field is not None:
                whole = value is not None and field.type in (FieldType.INT, FieldType.MONEY)
                recorded[name] = normalize_attribute(field, value) if whole else value
        return recorded

    def reads(self, *kinds: RuleSetKind) -> frozenset[str]:
        """The catalogue fields (dotted names) that the eligibility, drawdown or fraud rule sets `kinds` read,
        directly or in derived keys: the facts a use case must supply for them, and the only ones it needs to."""
        fields = self._reads.get(kinds)
        if fields is None:  # not asked for before
            fields = frozenset(f.name for kind in kinds for f in self._decisions_for(kind).compiled.fields)
            self._reads[kinds] = fields
        return fields

    def lists_holding(self, kinds: tuple[RuleSetKind, ...], facts: Mapping[str, object]) -> list[str]:
        """Of the `field in lists.NAME` tests the rule sets `kinds` make, those that hold for these facts, as
        written: for the decision record, which keeps a listed value only as its keyed hash."""
        return [membership_written(name, listed) for name, listed in self.list_tests(kinds)
                if facts.get(name) in self._lists.get(listed, frozenset())]

    def list_tests(self, kinds: tuple[RuleSetKind, ...]) -> tuple[tuple[str, str], ...]:
        """The (field, list name) of every `field in lists.NAME` test the rule sets `kinds` make."""
        tests = self._list_tests.get(kinds)
        if tests is None:  # not asked for before
            found = {(node.subject.name, node.list_ref.name) for node in self._rule_nodes(kinds)
                     if isinstance(node, Member) and node.list_ref is not None and isinstance(node.subject, FieldRef)}
            tests = self._list_tests[kinds] = tuple(sorted(found))
        return tests

    def texts_equalled(self, kinds: tuple[RuleSetKind, ...], fields: tuple[str, ...],
                       facts: Mapping[str, object]) -> list[str]:
        """Of the texts the rule sets `kinds` compare `fields` with (text_tests), those these facts' values equal,
        written `channel.ip == '10.9.9.9'`: for the decision record, which keeps those values only as keyed hashes."""
        return [equality_written(name, value) for name, texts in self.texts_compared(kinds, fields).items()
                if isinstance(value := facts.get(name), str) and value in texts]

    def texts_compared(self, kinds: tuple[RuleSetKind, ...], fields: tuple[str, ...]) -> dict[str, frozenset[str]]:
        """The texts of text_tests by field: a set for each, so that a long `in [...]` costs a look-up no more."""
        key = (*kinds, *fields)
        by_field = self._texts_compared.get(key)
        if by_field is None:  # not asked for before
            texts: dict[str, set[str]] = {}
            for name, text in self.text_tests(kinds, fields):
                texts.setdefault(name, set()).add(text)
            by_field = self._texts_compared[key] = {name: frozenset(t) for name, t in texts.items()}
        return by_field

    def text_tests(self, kinds: tuple[RuleSetKind, ...], fields: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        """The (field, text) of every comparison the rule sets `kinds` make of one of `fields` with text written in
        the rules: `==`, `!=`, `in [...]`, `not in [...]`. Not with empty text: a keyed hash keeps it empty."""
        key = (*kinds, *fields)
        tests = self._text_tests.get(key)
        if tests is None:  # not asked for before
            found: set[tuple[str, str]] = set()
            for node in self._rule_nodes(kinds):
                pairs: list[tuple[Expr, Expr]] = []
                if isinstance(node, Compare) and node.op in ("==", "!="):
                    pairs = [(node.left, node.right), (node.right, node.left)]
                elif isinstance(node, Member) and node.items is not None:
                    pairs = [(node.subject, item) for item in node.items]
                found.update((side.name, text.value) for side, text in pairs if isinstance(side, FieldRef)
                             and side.name in fields and isinstance(text, Literal) and isinstance(text.value, str)
                             and text.value)
            tests = self._text_tests[key] = tuple(sorted(found))
        return tests

    def _rule_nodes(self, kinds: tuple[RuleSetKind, ...]) -> Iterator[Expr]:
        """Every node of the conditions of the rule sets `kinds`."""
        stack: list[Expr] = [rule.expr for kind in kinds for rule in self._decisions_for(kind).rules]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(children(node))

    def list_members(self, name: str) -> frozenset[str]:
        """The values of lists/NAME.txt (none for a list the bundle does not have)."""
        return self._lists.get(name, frozenset())

    def all_rule_ids(self) -> list[str]:
        """Every id that can appear among the rules fired: scorecard bins, eligibility rules, limit caps,
        drawdown rules, fraud rules, in that order (for rule-test coverage)."""
        kinds = (RuleSetKind.SCORECARD, RuleSetKind.ELIGIBILITY, RuleSetKind.LIMITS, RuleSetKind.DRAWDOWN,
                 RuleSetKind.FRAUD)
        return [rule_id for kind in kinds for rule_id in self.rule_ids(kind)]

    def score_bins(self, facts: Mapping[str, object]) -> list[BinMatch]:
        """The first matching bin of each characteristic, in characteristic order (none matching: omitted)."""
        compiled = self._spec.scorecard.compiled
        fired = self._engines[RuleSetKind.SCORECARD].fired(self._normalize(facts, compiled.fields))
        chosen: dict[int, BinMatch] = {}
        for index in fired:
            characteristic, match = self._bin_matches[index]
            if characteristic not in chosen:
                chosen[characteristic] = match
        # bins are numbered in characteristic order (Scorecard.compiled) and fired() is sorted: so is `chosen`
        return list(chosen.values())

    def evaluate(self, kind: RuleSetKind, facts: Mapping[str, object]) -> list[FiredRule]:
        """Every matching rule of an eligibility, drawdown or fraud rule set, in bundle order."""
        decisions = self._decisions_for(kind)
        normalized = self._normalize(facts, decisions.compiled.fields)
        return [decisions.results[i] for i in self._engines[kind].fired(normalized)]

    def caps(self, facts: Mapping[str, object]) -> list[CapValue]:
        """Every limit cap for this applicant, in bundle order: amount in fen, rounded down, never negative.
        A cap that cannot be calculated (division by zero) is 0, the most cautious reading."""
        normalized = self._normalize(facts, self._cap_fields)
        return [_cap_value(cap, value, normalized) if fixed is None else fixed for cap, value, fixed in self._caps]

    def close(self) -> None:
        """Release the engine rulesets. Evaluating afterwards raises NoRuleBundle."""
        for engine in self._engines.values():
            engine.close()

    # -- for rule tests, explain and the differential test ----------------------------------------------
    def evaluate_reference(self, kind: RuleSetKind, facts: Mapping[str, object]) -> list[FiredRule]:
        """What evaluate() must return, computed by the plain-Python reading of the rules (no engine)."""
        decisions = self._decisions_for(kind)
        normalized = self._normalize(facts, decisions.compiled.fields)
        return [decisions.results[i] for i in reference_fired(decisions.compiled, normalized, self._lists)]

    def explain(self, kind: RuleSetKind, facts: Mapping[str, object]) -> list[RuleTrace]:
        """For every rule of the set: whether it matched and, if not, which parts of its condition failed."""
        decisions = self._decisions_for(kind)
        normalized = self._normalize(facts, decisions.compiled.fields)
        money = frozenset(f.name for f in decisions.compiled.fields if f.type is FieldType.MONEY)
        return [trace_rule(r.rule_id, r.expr, r.when, normalized, self._lists, money) for r in decisions.rules]

    def rule_specs(self, kind: RuleSetKind) -> tuple[RuleSpec, ...]:
        """The rules of an eligibility, drawdown or fraud set as written (id, description, file, line, when)."""
        return self._decisions_for(kind).rules

    def caps_that_cannot_bind(self) -> list[str]:
        """The caps that no request can make bind: a fixed amount (no field in it) at or above every band's base
        limit, a backstop for when a base limit is raised past it (limits.yaml's LIM-REGULATION under the starter
        policy). No test case can fire one, so rule-test coverage leaves them out rather than ask for one."""
        highest = max((offer.base_limit for offer in self._spec.limits.spec.offers.values()), default=0)
        backstops = []
        for cap in self._spec.limits.caps:
            amount = fixed_cap_amount(cap, self._lists)
            if amount is not None and amount >= highest:
                backstops.append(cap.cap_id)
        return backstops

    def rule_places(self) -> dict[str, tuple[str, int]]:
        """Where each id of all_rule_ids() is written: its file as the bundle was given, and its line."""
        places = {b.bin_id: (b.file, b.line) for b in self._bins}
        places |= {c.cap_id: (c.file, c.line) for c in self._spec.limits.caps}
        places |= {r.rule_id: (r.file, r.line) for kind in DECISION_KINDS for r in self._decisions[kind].rules}
        return places

    # -- helpers -------------------------------------------------------------------------------------------
    def _decisions_for(self, kind: RuleSetKind) -> _Decisions:
        if kind not in DECISION_KINDS:
            raise ValueError(f"{kind.value} is not evaluated rule by rule; use score_bins() or caps()")
        return self._decisions[kind]

    def _normalize(self, facts: Mapping[str, object], fields: tuple[FieldSpec, ...]) -> dict[str, oracle.FactValue]:
        # keyed by identity: the field tuples are the compiled rule sets' own, made once at load
        normalizer = self._normalizers.get(id(fields))
        if normalizer is None:
            normalizer = self._normalizers[id(fields)] = FactNormalizer(fields, self._defaults)
        return normalizer(facts)


def membership_written(name: str, list_name: str) -> str:
    """`transaction.counterparty_id in lists.mule_counterparties`: that the field's value was on the list, written as
    the rules write the test."""
    return f"{name} in lists.{list_name}"


def equality_written(name: str, text: str) -> str:
    """`channel.ip == '10.9.9.9'`: that the field's value was this text, written as the rules write the test."""
    return f"{name} == {text!r}"


def load_bundle(directory: Path) -> RuleBundle:
    """Check, compile and load a bundle into the engine. Raises BundleInvalid with every problem found."""
    directory = Path(directory)
    spec, problems = _analyse_safely(directory)
    if spec is None:
        raise BundleInvalid(problems)
    try:
        return RuleBundle(spec, [p for p in problems if not p.is_error])
    except Exception as err:  # the engine refused a ruleset: never let it surface as a traceback
        raise BundleInvalid([*problems, problem(
            P.ENGINE_REFUSED, str(directory), f"the rule engine refused the compiled rules: {err}",
            hint="report this bundle to the service team")]) from err


def check_bundle(directory: Path) -> list[RuleProblem]:
    """Every problem of a bundle (errors and warnings), without loading it into the engine."""
    return _analyse_safely(Path(directory))[1]


def _analyse_safely(directory: Path) -> tuple[BundleSpec | None, list[RuleProblem]]:
    try:
        return analyse(directory)
    except RecursionError:
        return None, [problem(P.TOO_LARGE, str(directory), "the bundle is nested too deeply to check",
                              hint="simplify deeply nested conditions or YAML")]
    except Exception as err:  # a checker defect must still end in a clear message, never a traceback
        return None, [problem(P.INTERNAL, str(directory), f"the checker failed unexpectedly ({type(err).__name__}: "
                              f"{err}); the bundle is refused", hint="report this bundle to the service team")]



def _cap_value(cap: CapSpec, value: oracle.Evaluator, normalized: oracle.Facts) -> CapValue:
    """A cap's amount for these facts: in fen, rounded down, never negative; 0 when it cannot be calculated."""
    try:
        amount = value(normalized)
        assert isinstance(amount, _NUMBER) and not isinstance(amount, bool)
        exact = max(_ZERO, Decimal(amount))
    except oracle.Incalculable:
        exact = _ZERO
    # ROUND_FLOOR passed positionally: as a keyword it costs more than the rounding itself (once per grant)
    return CapValue(cap.cap_id, cap.reason_code, cap.message, int(exact.to_integral_value(ROUND_FLOOR)), exact)


_NUMBER = (int, Decimal)  # what a cap's expression gives (a tuple, not `int | Decimal`, made anew each time)
_ZERO = Decimal(0)
