"""The generated parts of docs/rules.md: the field catalogue and the problem codes, from the code itself.

    python -m service.engine.docs docs/rules.md           # rewrite the generated sections in place
    python -m service.engine.docs docs/rules.md --check   # exit 1 when they are out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from service.engine.catalogue import NAMESPACE_FIELDS, NAMESPACES_BY_RULESET, FieldType
from service.engine.problems import ALL_CODES

_TYPE_WORDS = {
    FieldType.INT: "whole number",
    FieldType.DECIMAL: "decimal",
    FieldType.MONEY: "money (CNY)",
    FieldType.BOOL: "yes/no",
    FieldType.STR: "text",
}


def catalogue_table() -> str:
    """A markdown table of every catalogue field: name, kind of value, rule sets that may read it, meaning."""
    lines = ["| Field | Value | Rule sets | Meaning |", "| --- | --- | --- | --- |"]
    for namespace, fields in NAMESPACE_FIELDS.items():
        readers = ", ".join(kind.value for kind, spaces in NAMESPACES_BY_RULESET.items() if namespace in spaces)
        for f in fields:
            meaning = f.description
            if f.allowed_values:
                meaning += "; one of " + ", ".join(f"`{v}`" for v in f.allowed_values)
            lines.append(f"| `{f.name}` | {_TYPE_WORDS[f.type]} | {readers} | {meaning} |")
    return "\n".join(lines)


def codes_table() -> str:
    """A markdown table of every problem code the checker reports."""
    lines = ["| Code | Kind | Meaning |", "| --- | --- | --- |"]
    lines += [f"| {c.code} | {c.severity.value} | {c.title} |" for c in ALL_CODES]
    return "\n".join(lines)


SECTIONS = {"catalogue": catalogue_table, "codes": codes_table}


def render_docs(text: str) -> str:
    """The document with every `<!-- generated:NAME -->` ... `<!-- end:NAME -->` section regenerated."""
    for name, make in SECTIONS.items():
        start, end = f"<!-- generated:{name} -->", f"<!-- end:{name} -->"
        head, found, rest = text.partition(start)
        if not found:
            raise ValueError(f"missing marker {start}")
        _, found, tail = rest.partition(end)
        if not found:
            raise ValueError(f"missing marker {end}")
        text = f"{head}{start}\n{make()}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    """Regenerate (or with --check, verify) the generated sections of the given markdown file."""
    path = Path(argv[0]) if argv and not argv[0].startswith("-") else Path("docs/rules.md")
    text = path.read_text(encoding="utf-8")
    fresh = render_docs(text)
    if "--check" in argv:
        if fresh != text:
            print(f"{path} is out of date: run python -m service.engine.docs {path}", file=sys.stderr)
            return 1
        return 0
    path.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
