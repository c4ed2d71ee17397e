"""Reading and checking a whole bundle directory, collecting every problem; no engine is involved here.

bundle.yaml:

    version: "2026.12-1"        # recorded with every decision
    currency: CNY               # the only currency of amounts in the rules
    score: {min: 350, max: 950}
    reasons:                    # every reason and flag code the rules may give, with its message
      LOW_SCORE: The credit score is below the minimum for a credit line
    attributes:                 # extra applicant features, referenced as applicant.attributes.NAME
      employment_months: {type: int, default: 0, description: Months with the current employer}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import TypeVar

from yaml.nodes import MappingNode, Node, ScalarNode

from service.domain.limits import final_limit
from service.domain.money import format_fen_as_yuan
from service.domain.request_limits import MAX_ATTRIBUTES  # a request carries no more: a bundle may declare no more
from service.engine import oracle
from service.engine import problems as P
from service.engine.answer_size import answers_too_large, largest_answers
from service.engine.catalogue import ATTRIBUTES_PREFIX, FIELDS, SCORE_RANGE, FieldType, RuleSetKind
from service.engine.context import CODE_RE, AttributeSpec, LoadContext
from service.engine.files import BUNDLE_FILE, LISTS_DIR, LISTS_FIX, BundleFiles, display_path, read_bundle_files
from service.engine.load_limits import CapSpec, Limits, money, read_limits
from service.engine.load_rules import RuleFile, read_rule_file
from service.engine.load_scorecard import Scorecard, read_scorecard
from service.engine.nodes import Expr, ListRef, children, field_refs
from service.engine.oracle import FactValue
from service.engine.parser import DECIMAL_LIMIT, DECIMAL_PLACES, decimal_places
from service.engine.problems import RuleProblem, problem
from service.engine.typecheck import suggest
from service.engine.yamlsrc import FileReader, SourceFile, compose

VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
ATTRIBUTE_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_REASONS = 1000
MAX_LIST_ENTRIES = 100_000
# All lists together: as many entries as four full lists. Every entry is held in memory by the checker and, for the
# lists rules use, by every serving process (files.MAX_LISTS_BYTES bounds what the checker reads).
MAX_ALL_LIST_ENTRIES = 400_000
MAX_LIST_ENTRY = 128
MAX_REASON_MESSAGE = 300  # characters of a reason's message in bundle.yaml (docs/rules.md, How rules run)
SUPPORTED_CURRENCIES = ("CNY",)
DECISION_KINDS = (RuleSetKind.ELIGIBILITY, RuleSetKind.DRAWDOWN, RuleSetKind.FRAUD)
T = TypeVar("T")


@dataclass(frozen=True)
class BundleSpec:
    """A bundle that passed every check, compiled but not yet loaded into the engine."""

    directory: Path
    version: str
    digest: str
    currency: str
    reasons: dict[str, str]
    attributes: dict[str, AttributeSpec]
    lists: dict[str, frozenset[str]]
    scorecard: Scorecard
    limits: Limits
    rule_files: dict[RuleSetKind, RuleFile]


@dataclass(frozen=True)
class _Header:
    version: str
    currency: str
    score_range: tuple[int, int]


def analyse(directory: Path) -> tuple[BundleSpec | None, list[RuleProblem]]:
    """Read and check every file of the bundle. Returns the compiled bundle (None if any error) and all
    problems, errors and warnings, in the order found."""
    problems: list[RuleProblem] = []
    files = read_bundle_files(directory, problems)
    if files is None:
        return None, problems
    ctx = LoadContext(problems)
    header = None
    reasons_known = False
    if BUNDLE_FILE in files.files:
        header, reasons_known = _read_bundle_yaml(files.files[BUNDLE_FILE], ctx)
    ctx.lists = _read_lists(files, problems)
    ctx.lists_unlisted = files.lists_unlisted
    ctx.list_texts = {name: src.text for name, src in files.lists.items()}
    score_range = header.score_range if header else SCORE_RANGE
    ctx.score_range = score_range
    scorecard = _if_present(files, "scorecard.yaml", lambda src: read_scorecard(src, ctx, score_range))
    rule_files: dict[RuleSetKind, RuleFile] = {}
    limits: Limits | None = None
    for kind in (RuleSetKind.ELIGIBILITY, RuleSetKind.LIMITS, RuleSetKind.DRAWDOWN, RuleSetKind.FRAUD):
        name = f"{kind.value}.yaml"
        if kind is RuleSetKind.LIMITS:
            limits = _if_present(files, name, lambda src: read_limits(src, ctx))
            continue
        src = files.files.get(name)
        read = read_rule_file(src, kind, ctx) if src is not None else None
        if read is not None:
            rule_files[kind] = read
    if limits is not None and "limits.yaml" in files.files:
        problems += every_grant_declined(limits, ctx.lists, files.files["limits.yaml"])
    if not reasons_known:  # bundle.yaml's own error says why; every code used would be reported unknown
        problems[:] = [p for p in problems if p.code != P.UNKNOWN_REASON.code]
    used_lists: set[str] | None = None  # known once every rule is read
    if scorecard is not None and limits is not None and all(kind in rule_files for kind in DECISION_KINDS):
        used_lists = _lists_used(scorecard, limits, rule_files)
        _warn_of_unused_lists(files, ctx.lists, used_lists, problems)
        problems += answers_too_large(largest_answers(files.directory, ctx.reasons, scorecard, limits, rule_files))
    if any(p.is_error for p in problems) or header is None or scorecard is None or limits is None \
            or used_lists is None:
        return None, problems
    # a list no rule uses is not kept: every serving process would hold it for nothing
    lists = {name: entries for name, entries in ctx.lists.items() if name in used_lists}
    spec = BundleSpec(directory, header.version, files.digest(), header.currency, dict(ctx.reasons),
                      dict(ctx.attributes), lists, scorecard, limits, rule_files)
    return spec, problems


def _lists_used(scorecard: Scorecard, limits: Limits, rule_files: dict[RuleSetKind, RuleFile]) -> set[str]:
    """The names of the lists that any rule, scorecard value or limit cap reads (`in lists.NAME`)."""
    stack: list[Expr] = [rule.expr for rule in scorecard.compiled.rules]
    stack += [cap.expr for cap in limits.caps]
    stack += [rule.expr for rule_file in rule_files.values() for rule in rule_file.compiled.rules]
    used: set[str] = set()
    while stack:
        node = stack.pop()
        if isinstance(node, ListRef):
            used.add(node.name)
        else:
            stack.extend(children(node))
    return used


def _warn_of_unused_lists(files: BundleFiles, lists: dict[str, frozenset[str]], used: set[str],
                          problems: list[RuleProblem]) -> None:
    """W006 for each list file no rule uses: it is read and checked on every load (and held against the limits on
    all lists) for nothing, or a rule meant to use it names another list."""
    paths = {name: src.rel for name, src in files.lists.items()} | files.unread_lists
    for name, rel in sorted(paths.items(), key=lambda item: item[1]):
        if name not in used:
            problems.append(problem(
                P.UNUSED_LIST, display_path(files.directory, rel), f"no rule uses this list (lists.{name})",
                hint=f"remove the file if the list is no longer needed, or use it in a rule, e.g. "
                f"{_field_for_list(lists.get(name, frozenset()))} in lists.{name}"))


LIST_EXAMPLE_FIELDS = tuple(FIELDS[name] for name in ("channel.country", "drawdown.purpose",
                                                       "transaction.counterparty_id"))


def _field_for_list(entries: frozenset[str]) -> str:
    """A field whose values the list's entries could be, for a hint: a country, a purpose, else an id."""
    for field in LIST_EXAMPLE_FIELDS:
        form = field.carries.text
        if entries and form is not None and all(form.takes(entry) for entry in entries):
            return field.name
    return LIST_EXAMPLE_FIELDS[-1].name


def fixed_cap_amount(cap: CapSpec, lists: Mapping[str, frozenset[str]]) -> Decimal | None:
    """The amount in fen (before rounding down to the fen) of a cap that names no field, the same for every
    applicant; None for a cap that depends on the applicant, or that cannot be calculated."""
    if field_refs(cap.expr):
        return None
    try:
        amount = oracle.evaluate(cap.expr, {}, lists)
    except oracle.Incalculable:
        return None
    assert isinstance(amount, int | Decimal) and not isinstance(amount, bool)
    return Decimal(amount)


def every_grant_declined(limits: Limits, lists: Mapping[str, frozenset[str]], src: SourceFile) -> list[RuleProblem]:
    """R303 where limits.yaml declines every GrantLimit whatever the applicant: a fixed cap that, rounded down, is
    below minimum_limit, or a minimum_limit above every band's base limit rounded down. Only test cases expecting
    an approval would show it otherwise (a band whose offer alone falls short is not reported: others may lend)."""
    spec = limits.spec
    if not spec.offers:  # every grant is declined for want of an offer, as written
        return []

    def granted(fen: int) -> int:  # the limit granted when the lowest of base and caps is `fen`
        return final_limit(fen, (), rounding=spec.rounding, minimum=spec.minimum_limit).amount

    def cny(fen: int) -> str:
        return f"{format_fen_as_yuan(fen).removesuffix('.00')} CNY"

    def rounded(fen: int) -> str:  # how a limit is granted, where rounding changes it
        return "" if granted(fen) == fen else \
            f", rounded down to {cny(granted(fen))} (a limit is a multiple of the rounding, {cny(spec.rounding)}),"

    needed = -(-spec.minimum_limit // spec.rounding) * spec.rounding  # the least a limit can be and still be granted
    band, highest = max(spec.offers.items(), key=lambda offer: offer[1].base_limit)
    if granted(highest.base_limit) < spec.minimum_limit:
        # reported alone: a fixed cap below this minimum is no fault of the cap's, as raising it would not help
        top = granted(highest.base_limit)
        return [problem(
            P.EVERY_GRANT_DECLINED, src.display,
            f"minimum_limit ({cny(spec.minimum_limit)}) is above every band's base limit (the highest, band "
            f"{band}'s, is {cny(highest.base_limit)}{rounded(highest.base_limit).rstrip(',')}), so every "
            f"GrantLimit is declined ({spec.minimum_limit_reason})",
            line=_top_key_line(src.text, "minimum_limit"),
            hint=f"lower minimum_limit to at most {cny(top)}, or raise a base limit to at least {cny(needed)}")]
    found = []
    for cap in limits.caps:
        amount = fixed_cap_amount(cap, lists)
        if amount is None:
            continue
        fen = int(max(Decimal(0), amount).to_integral_value(rounding=ROUND_FLOOR))
        if granted(fen) >= spec.minimum_limit:
            continue
        found.append(problem(
            P.EVERY_GRANT_DECLINED, cap.file,
            f"the cap of {cny(fen)}{rounded(fen)} is below minimum_limit ({cny(spec.minimum_limit)}), so every "
            f"GrantLimit is declined ({spec.minimum_limit_reason})", line=cap.line, rule_id=cap.cap_id,
            hint=f"raise the cap to at least {cny(needed)}, or lower minimum_limit to at most {cny(granted(fen))}"))
    return found


def _top_key_line(text: str, key: str) -> int | None:
    """The line (1-based) on which a YAML file's top-level `key:` is written, None if it is not found so."""
    found = re.search(rf"^{re.escape(key)}\s*:", text, re.MULTILINE)
    return text.count("\n", 0, found.start()) + 1 if found else None


def version_names_other_rules(
    directory: Path, version: str, digest: str, named_digest: str, first_served_at: datetime,
    differences: Sequence[FileDifference] = (), *, recorded: Sequence[str] = (), latest: bool = True,
) -> RuleProblem:
    """R014: the ledger records `version` for other rules (`named_digest`, first served then) than these (`digest`),
    which differ from them in the files `differences` names (when the ledger keeps the rules served). `recorded`: every
    version the ledger records, none of which the fix may suggest; `latest`: whether `version` is the one the ledger
    recorded last (the rules were changed and their version left as it was) rather than an earlier one given again."""
    said = [f"{d.name} (only in its line endings: CRLF, as Windows editors save, where the rules served have LF)"
            if d.line_endings_only else d.name for d in differences]
    where = f": in {', '.join(said)}" if said else ""
    fix = (f"give bundle.yaml a new version, e.g. {free_version(version, recorded)}, so that every decision names the"
           " rules that made it")
    if differences and all(d.line_endings_only for d in differences):  # saved again, not changed
        names = " and ".join(d.name for d in differences)
        hint = f"save {names} again with LF line endings (your editor's 'Unix (LF)' setting), or {fix}"
    else:
        hint = f"{fix} (or put back the rules served as '{version}')"
    headline = ("the rules changed but their version did not" if latest else
                f"the version '{version}' was used before, for other rules, and a version names one set of rules")
    return problem(
        P.VERSION_UNCHANGED,
        str(directory / BUNDLE_FILE),
        f"{headline}: the ledger records '{version}' as the version of other"
        f" rules (digest {named_digest[:12]}, first served {first_served_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC),"
        f" and these rules (digest {digest[:12]}) differ{where}",
        hint=hint,
    )


@dataclass(frozen=True)
class FileDifference:
    """A file of the bundle that differs from the rules the ledger served under the same version."""

    name: str  # inside the bundle, e.g. eligibility.yaml, lists/mules.txt
    line_endings_only: bool = False  # the same text, but with CRLF (or CR) line endings where the other has LF


def file_differences(served: Mapping[str, bytes], these: Mapping[str, bytes]) -> list[FileDifference]:
    """The files in which `these` rules differ from those `served` (added, removed or changed), in name order."""
    def unix(data: bytes) -> bytes:
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    found = []
    for name in sorted(served.keys() | these.keys()):
        before, now = served.get(name), these.get(name)
        if before != now:
            same_text = before is not None and now is not None and unix(before) == unix(now)
            found.append(FileDifference(name, line_endings_only=same_text))
    return found


def next_version(version: str) -> str:
    """A suggestion for the version after `version`: its last number raised by one, else "-2" appended."""
    head, digits, tail = re.match(r"(.*?)(\d*)(\D*)$", version).groups()  # type: ignore[union-attr]
    return f"{head}{int(digits) + 1}{tail}" if digits else f"{version}-2"


def free_version(version: str, recorded: Sequence[str]) -> str:
    """The first of next_version(version), next_version of that, ... that is not among the `recorded` versions."""
    taken = set(recorded)
    candidate = next_version(version)
    while candidate in taken:
        candidate = next_version(candidate)
    return candidate


def _if_present(files: BundleFiles, name: str, read: Callable[[SourceFile], T | None]) -> T | None:
    src = files.files.get(name)
    return read(src) if src is not None else None


def _version_fault(version: str) -> str:
    """What keeps a version string from matching VERSION_RE, in words."""
    if not version[:1].isascii() or not version[:1].isalnum():
        return f"it starts with '{version[:1]}', and a version starts with a letter from A to Z or a digit"
    other = next((c for c in version if not VERSION_RE.fullmatch("a" + c)), None)
    if other is not None:
        return "it contains a space" if other == " " else f"it contains '{other}'"
    return "it is longer than 64 characters"


def _read_bundle_yaml(src: SourceFile, ctx: LoadContext) -> tuple[_Header | None, bool]:
    """The header, and whether the reason codes could be read (they are known, if only to be none)."""
    reader = FileReader(src, ctx.problems)
    root = compose(src, ctx.problems)
    if root is None:
        return None, False
    top = reader.mapping(root, "bundle.yaml", ("version", "currency", "score", "reasons"),
                         ("attributes", "description"))
    if top is None:
        return None, False
    version = reader.text(top.get("version"), "version", max_len=64) if "version" in top else None
    if version is not None and not VERSION_RE.fullmatch(version):
        reader.report(P.INVALID_VALUE, top["version"], f"'{version}' is not a usable version string: "
                      f"{_version_fault(version)}", "use the letters A to Z (either case), digits, '.', '-', '_' or "
                      "'+', starting with a letter or a digit, e.g. 2026.12-1")
        version = None
    currency = reader.text(top.get("currency"), "currency", max_len=8) if "currency" in top else None
    if currency is not None and currency not in SUPPORTED_CURRENCIES:
        reader.report(P.INVALID_VALUE, top["currency"], f"currency '{currency}' is not supported",
                      "the service lends in CNY: write currency: CNY")
        currency = None
    ctx.currency = currency or "CNY"
    score_range = _read_score_range(reader, top["score"]) if "score" in top else None
    reasons_known = True
    if "reasons" in top:
        reasons = _read_reasons(reader, top["reasons"])
        reasons_known = reasons is not None
        ctx.reasons = reasons or {}
    if "attributes" in top:
        ctx.attributes = _read_attributes(reader, top["attributes"], ctx.currency)
    if version is None or currency is None or score_range is None:
        return None, reasons_known
    return _Header(version, currency, score_range), reasons_known


def _read_score_range(reader: FileReader, node: Node) -> tuple[int, int] | None:
    score = reader.mapping(node, "'score'", ("min", "max"))
    if score is None or len(score) < 2:
        return None
    low = reader.integer(score["min"], "the minimum score", lo=0, hi=10_000)
    high = reader.integer(score["max"], "the maximum score", lo=0, hi=10_000)
    if low is None or high is None:
        return None
    if low >= high:
        reader.report(P.INVALID_VALUE, node, f"the score range {low}..{high} is empty", "min must be below max")
        return None
    return low, high


def _free_mapping(reader: FileReader, node: Node, what: str, limit: int) -> list[tuple[Node, str, Node]] | None:
    """(key node, key, value node) of a mapping whose keys are names chosen by the author; None (reported)
    when it is not such a mapping."""
    if not isinstance(node, MappingNode):
        reader.report(P.WRONG_SHAPE, node, f"{what} must be a mapping of 'NAME: value' lines",
                      "write one 'NAME: value' per line, indented under the key")
        return None
    if len(node.value) > limit:
        reader.report(P.TOO_LARGE, node, f"{what} has more than {limit} entries",
                      f"keep at most {limit}; ask the service team if you need more")
        return None
    seen: set[str] = set()
    out: list[tuple[Node, str, Node]] = []
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, ScalarNode) else None
        if key is None:
            reader.report(P.WRONG_SHAPE, key_node, f"a key in {what} must be a plain name",
                          "write NAME: value, with a name made of letters, digits and _")
        elif key in seen:
            reader.report(P.DUPLICATE_ID, key_node, f"'{key}' appears twice in {what}", "keep one of them")
        else:
            seen.add(key)
            out.append((key_node, key, value_node))
    return out


def _read_reasons(reader: FileReader, node: Node) -> dict[str, str] | None:
    entries = _free_mapping(reader, node, "'reasons'", MAX_REASONS)
    if entries is None:
        return None
    reasons: dict[str, str] = {}
    for key_node, code, value in entries:
        if not CODE_RE.fullmatch(code) or len(code) > 64:
            reader.report(P.INVALID_VALUE, key_node, f"'{code}' is not a valid reason code",
                          "use capitals, digits and _, e.g. LOW_SCORE")
            continue
        message = reader.text(value, f"the message of {code}", max_len=MAX_REASON_MESSAGE)
        # Declared even when its message is refused (which fails the bundle): else every rule giving the code
        # would be reported as giving an unknown one too.
        reasons[code] = message if message is not None else ""
    return reasons


def _read_attributes(reader: FileReader, node: Node, currency: str) -> dict[str, AttributeSpec]:
    attributes: dict[str, AttributeSpec] = {}
    for key_node, name, value in _free_mapping(reader, node, "'attributes'", MAX_ATTRIBUTES) or ():
        if not ATTRIBUTE_RE.fullmatch(name):
            reader.report(P.BAD_ATTRIBUTE, key_node, f"'{name}' is not a valid attribute name",
                          "use lower-case letters, digits and _, starting with a letter")
            continue
        spec = _read_attribute(reader, value, ATTRIBUTES_PREFIX + name, currency)
        if spec is not None:
            attributes[spec.name] = spec
    return attributes


def _read_attribute(reader: FileReader, node: Node, full: str, currency: str) -> AttributeSpec | None:
    entry = reader.mapping(node, f"the attribute {full}", ("type", "default"), ("description", "values"))
    if entry is None or "type" not in entry or "default" not in entry:
        return None
    type_name = reader.text(entry["type"], "the type", max_len=16)
    if type_name is None:
        return None
    kind = _TYPES.get(type_name)
    if kind is None:
        close = suggest(type_name, list(_TYPES))
        extra = f" (did you mean '{close}'?)" if close else ""
        reader.report(P.BAD_ATTRIBUTE, entry["type"], f"unknown attribute type '{type_name}'{extra}",
                      "write one of " + ", ".join(_TYPES))
        return None
    values: tuple[str, ...] = ()
    if "values" in entry:
        if kind is not FieldType.STR:
            reader.report(P.BAD_ATTRIBUTE, entry["values"], "only text attributes (type: str) can list values",
                          "remove 'values', or make the attribute text (type: str)")
            return None
        items = reader.sequence(entry["values"], "'values'")
        if items is None:
            return None
        if not items:
            reader.report(P.BAD_ATTRIBUTE, entry["values"], f"the attribute {full} lists no values",
                          "list the values it can take, e.g. values: [EMPLOYED, RETIRED], or remove 'values' "
                          "to allow any text")
            return None
        found = [reader.text(item, "a value", max_len=256) for item in items]
        if any(v is None for v in found):
            return None
        values = tuple(v for v in found if v is not None)
    default = _read_default(reader, entry["default"], kind, values, currency)
    description = reader.text(entry["description"], "the description") if "description" in entry else ""
    if default is None or description is None:
        return None
    return AttributeSpec(full, kind, default, values, description)


def _read_default(reader: FileReader, node: Node, kind: FieldType, values: tuple[str, ...],
                  currency: str) -> FactValue | None:
    if kind is FieldType.INT:
        return reader.integer(node, "the default", lo=-(10**15) + 1, hi=10**15 - 1)
    if kind is FieldType.MONEY:
        return money(reader, node, "the default", currency)
    if kind is FieldType.BOOL:
        return reader.boolean(node, "the default")
    if kind is FieldType.DECIMAL:
        value = reader.decimal(node, "the default")
        if value is not None and (decimal_places(value) > DECIMAL_PLACES or abs(value) >= DECIMAL_LIMIT):
            reader.report(P.BAD_ATTRIBUTE, node, "the default is out of range or has more than "
                          f"{DECIMAL_PLACES} decimal places",
                          f"write a decimal below 1,000,000,000 with at most {DECIMAL_PLACES} decimal places")
            return None
        return value
    scalar = reader.scalar(node, "the default")
    if scalar is None:
        return None
    text = "" if scalar.tag == "tag:yaml.org,2002:null" else scalar.value
    if values and text not in values:
        reader.report(P.BAD_ATTRIBUTE, node, f"the default '{text}' is not one of the listed values",
                      "add it to 'values' or choose one of them")
        return None
    return text


# A comment in a list file: from a '#' that starts the line or follows a space to the end of the line (an entry
# written `CP-MULE-0002  # seen in November` must not become the whole line, which no counterparty ever matches).
_LIST_COMMENT = re.compile(r"(^|\s)#.*$")


def _read_lists(files: BundleFiles, problems: list[RuleProblem]) -> dict[str, frozenset[str]]:
    # a list left unread (all lists are too large together, or its file cannot be read; reported) is known, so rules
    # using it get no second error
    lists: dict[str, frozenset[str]] = dict.fromkeys([*files.unread_lists, *files.unreadable_lists], frozenset())
    for name, src in files.lists.items():
        entries: set[str] = set()
        for number, line in enumerate(src.text.splitlines(), start=1):
            entry = _list_entry(line)
            if not entry:
                continue
            if "\t" in entry:  # a spreadsheet row pasted whole: its cells end up in one entry that never matches
                problems.append(_tab_in_list(src.display, number, line))
                continue
            if len(entry) > MAX_LIST_ENTRY:
                problems.append(problem(P.BAD_LIST, src.display, f"this entry is longer than {MAX_LIST_ENTRY} "
                                        "characters", line=number, col=1, hint="one value per line"))
            entries.add(entry)
        if len(entries) > MAX_LIST_ENTRIES:
            problems.append(problem(P.TOO_LARGE, src.display, f"the list has more than {MAX_LIST_ENTRIES} entries",
                                    hint="the service holds lists in memory; ask the service team"))
        lists[name] = frozenset(entries)  # kept even when invalid, so rules using it get no second error
    total = sum(len(entries) for entries in lists.values())
    if total > MAX_ALL_LIST_ENTRIES:
        problems.append(problem(P.TOO_LARGE, display_path(files.directory, LISTS_DIR),
                                f"the lists hold {total:,} entries together; the service accepts at most "
                                f"{MAX_ALL_LIST_ENTRIES:,} in all", hint=LISTS_FIX))
    return lists


def _list_entry(line: str) -> str:
    """The value a line of a list file holds: the line without its comment and the blanks around it ('' for none)."""
    return _LIST_COMMENT.sub("", line).strip()


def list_entry_lines(text: str, entries: Collection[str]) -> dict[str, int]:
    """The line of a list file's `text` on which each of `entries` is first written, read as _read_lists reads it."""
    wanted = set(entries)
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        entry = _list_entry(line)
        if entry in wanted and entry not in found:
            found[entry] = number
            if len(found) == len(wanted):
                break
    return found


def _tab_in_list(shown: str, number: int, line: str) -> RuleProblem:
    """R401: a list line holding a tab, with the line as it is meant: the value, and the rest as a note."""
    value, _, rest = line.partition("\t")
    note = " ".join(rest.replace("\t", " ").split())
    example = f"{value.strip()}  # {note}" if note else value.strip()
    return problem(P.BAD_LIST, shown, "this line holds a tab (copied from a spreadsheet?): a list has one value a "
                   "line", line=number, col=line.index("\t") + 1,
                   hint=f"put only the value on the line, and any note after ' # ', e.g. {example}")


_TYPES = {t.value: t for t in FieldType}
