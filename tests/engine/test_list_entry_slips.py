"""List entries pasted from Word or a spreadsheet: in quotes, two ids on one line, a note after '#' with no space
before it, a full-width dash. A counterparty id may hold any of these characters (request_limits.identifier_problem:
printable, trimmed, at most 64 characters), so such an entry can match and the list keeps it; but it matches only
an id written with the same slip, so the counterparty meant is not declined. Each is a warning (W008) at the rule
using the list that names the entry, its line, the slip and the fix; an entry no request can carry stays an error
(R105)."""

from __future__ import annotations

from service.engine.bundle import check_bundle, load_bundle
from service.engine.catalogue import RuleSetKind
from tests.engine import facts
from tests.engine.conftest import BundleCopy

LIST = "lists/mule_counterparties.txt"
FIRST_ADDED = 7  # the line after the starter list's six
WHY = "'transaction.counterparty_id' matches an entry only when it is exactly the same text"


def slips(bundle_copy: BundleCopy, added: str) -> list[tuple[str, str, int | None, str | None, str, str]]:
    bundle_copy.write(LIST, bundle_copy.read(LIST) + added)
    return [(p.code, p.file, p.line, p.rule_id, p.message, p.hint) for p in check_bundle(bundle_copy.dir)]


def at_frd_006(message: str, hint: str) -> tuple[str, str, int, str, str, str]:
    return ("W008", "rules/fraud.yaml", 44, "FRD-006", message, hint)


def test_entries_pasted_from_word_or_a_spreadsheet_are_each_named_with_their_line_and_fix(
        bundle_copy: BundleCopy) -> None:
    found = slips(bundle_copy, "\u2018CP-MULE-0005\u2019\nCP-MULE-0006, CP-MULE-0007\n\"CP-MULE-0008\"\n"
                               "CP-MULE-0009# added 2026-12-07\nCP\uff0dMULE\uff0d0004\n")
    assert found == [at_frd_006(
        "lists/mule_counterparties.txt has 5 entries that look pasted wrongly ('\u2018CP-MULE-0005\u2019' (in "
        "quotes); 'CP-MULE-0006, CP-MULE-0007' (2 ids on one line, joined by ','); '\"CP-MULE-0008\"' (in quotes); "
        "'CP-MULE-0009# added 2026-12-07' (a note after '#' with no space before the '#', so the note is part of "
        "the entry); 'CP\uff0dMULE\uff0d0004' ('\uff0d' (U+FF0D FULLWIDTH HYPHEN-MINUS) is a dash, not the plain "
        f"'-')): {WHY}",
        "at lists/mule_counterparties.txt:7 remove the quotes; at lists/mule_counterparties.txt:8 put one id per "
        "line: 'CP-MULE-0006' and 'CP-MULE-0007'; at lists/mule_counterparties.txt:9 remove the quotes; at "
        "lists/mule_counterparties.txt:10 put a space before '#', or move the note to a line of its own; at "
        "lists/mule_counterparties.txt:11 write 'CP-MULE-0004'")]


def test_a_slip_is_a_warning_the_bundle_loads_and_the_entry_is_kept_as_written(bundle_copy: BundleCopy) -> None:
    slips(bundle_copy, "CP-MULE-0006;CP-MULE-0007\n")
    bundle = load_bundle(bundle_copy.dir)
    try:
        assert [(w.code, w.rule_id) for w in bundle.warnings] == [("W008", "FRD-006")]
        assert "CP-MULE-0006;CP-MULE-0007" in bundle.list_members("mule_counterparties")
        fired = bundle.evaluate(RuleSetKind.FRAUD, facts.transaction(**{
            "transaction.type": "TRANSFER_OUT", "transaction.counterparty_id": "CP-MULE-0006;CP-MULE-0007"}))
        assert "FRD-006" in [r.rule_id for r in fired]
    finally:
        bundle.close()


def test_several_slips_in_one_entry_are_named_together(bundle_copy: BundleCopy) -> None:
    found = slips(bundle_copy, "\"CP-MULE-0006,CP-MULE-0007\"\n")
    assert found == [at_frd_006(
        "lists/mule_counterparties.txt has an entry that looks pasted wrongly ('\"CP-MULE-0006,CP-MULE-0007\"' (in "
        f"quotes, 2 ids on one line, joined by ',')): {WHY}",
        f"at lists/mule_counterparties.txt:{FIRST_ADDED} remove the quotes and put one id per line: 'CP-MULE-0006' "
        "and 'CP-MULE-0007'")]


def test_a_note_after_a_space_and_plain_ids_draw_no_warning(bundle_copy: BundleCopy) -> None:
    assert slips(bundle_copy, "CP-MULE-0009  # added 2026-12-07\nCP-MULE-0010\n\n#CP-MULE-0011\n") == []


def test_an_entry_no_request_can_carry_stays_an_error_not_a_warning(bundle_copy: BundleCopy) -> None:
    found = slips(bundle_copy, "\"CP-MULE-0004\u200b\"\n")
    assert [(code, rule_id) for code, _, _, rule_id, _, _ in found] == [("R105", "FRD-006")]


def test_a_list_of_free_text_is_warned_of_quotes_but_not_of_a_comma_or_a_dash_inside(bundle_copy: BundleCopy) -> None:
    mules = "when: transaction.counterparty_id in lists.mule_counterparties"
    bundle_copy.replace("fraud.yaml", mules, f"{mules} or channel.city in lists.cities")
    bundle_copy.write("lists/cities.txt", "Xi\u2019an, Shaanxi\nL\u00fcliang\u2013Shanxi\n\u201cShanghai\n")
    found = [(p.code, p.rule_id, p.message, p.hint) for p in check_bundle(bundle_copy.dir)]
    assert found == [(
        "W008", "FRD-006", "lists/cities.txt has an entry that looks pasted wrongly ('\u201cShanghai' (with a quote "
        "mark at one end)): 'channel.city' matches an entry only when it is exactly the same text",
        "at lists/cities.txt:3 remove the quote mark")]
