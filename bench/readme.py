"""Keeps the results section of bench/README.md in step with the latest full run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import targets_table
from bench.targets import Verdict

START = "<!-- bench:latest:start (written by python -m bench.run) -->"
END = "<!-- bench:latest:end -->"


def latest_section(results: dict[str, Any], verdicts: list[Verdict], chart: Path) -> str:
    missed = sum(v.passed is False for v in verdicts)
    unmeasured = sum(v.passed is None for v in verdicts)
    summary = f"{len(verdicts) - missed - unmeasured} of {len(verdicts)} targets met"
    if missed:
        summary += f", {missed} missed"
    if unmeasured:
        summary += f", {unmeasured} not measured"
    return "\n".join([
        START,
        f"Run of {results['date']} (commit {results['machine']['git_commit']}"
        f"{', uncommitted changes' if results['machine']['git_dirty'] else ''}; {results['elapsed_s']:.0f} s): "
        f"**{summary}**. Full report: [results/{chart.stem}.md](results/{chart.stem}.md), "
        f"raw figures: [results/{chart.stem}.json](results/{chart.stem}.json).",
        "",
        *targets_table(verdicts),
        "",
        f"![throughput and latency per RPC and concurrency](results/{chart.name})",
        END,
    ])


def update_readme(readme: Path, results: dict[str, Any], verdicts: list[Verdict], chart: Path) -> None:
    """Replace the text between the markers (append the section if the markers are missing)."""
    text = readme.read_text() if readme.exists() else ""
    section = latest_section(results, verdicts, chart)
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip() + "\n\n## Latest results\n\n" + section + "\n"
    readme.write_text(text)
