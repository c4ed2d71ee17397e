import pytest

from service.domain.scorecard import adverse_reasons, band_for, compute_score
from service.engine.model import Band, BinMatch, Characteristic, ScorecardSpec

BANDS = (Band("A", 700), Band("B", 650), Band("C", 600), Band("D", 550), Band("E", 350))


def characteristic(cid: str, best: int) -> Characteristic:
    return Characteristic(cid, f"{cid} description", f"LOW_{cid}", f"{cid} could be better", best)


REPAY, SPEND, ASSETS, INQUIRIES, TENURE, SOCIAL = (
    characteristic("REPAY", 120),
    characteristic("SPEND", 60),
    characteristic("ASSETS", 60),
    characteristic("INQUIRIES", 40),
    characteristic("TENURE", 30),
    characteristic("SOCIAL", 30),
)
CARD = ScorecardSpec(
    base_points=500,
    min_score=350,
    max_score=950,
    bands=BANDS,
    characteristics=(REPAY, SPEND, ASSETS, INQUIRIES, TENURE, SOCIAL),
)


def match(c: Characteristic, points: int, n: int = 1) -> BinMatch:
    return BinMatch(c.characteristic_id, f"SC-{c.characteristic_id}/{n}", points)


def test_score_is_base_plus_each_characteristics_points() -> None:
    result = compute_score(CARD, [match(REPAY, 120), match(SPEND, 60), match(ASSETS, 20)])
    assert result.score == 700  # characteristics without a match score 0


def test_only_the_first_matching_bin_of_a_characteristic_counts() -> None:
    result = compute_score(CARD, [match(REPAY, 100, 1), match(REPAY, 120, 2)])
    assert result.score == 600


def test_score_is_clamped_to_the_cards_range() -> None:
    assert compute_score(CARD, [match(REPAY, -400)]).score == 350
    assert compute_score(CARD, [match(REPAY, 600)]).score == 950


def test_band_edges_699_is_b_and_700_is_a() -> None:
    assert band_for(700, BANDS) == "A"
    assert band_for(699, BANDS) == "B"
    assert band_for(650, BANDS) == "B"
    assert band_for(649, BANDS) == "C"
    assert band_for(350, BANDS) == "E"


def test_a_score_below_every_band_has_no_band() -> None:
    assert band_for(349, BANDS) is None


def test_reasons_are_the_largest_shortfalls_most_important_first_at_most_four() -> None:
    result = compute_score(
        CARD,
        [
            match(REPAY, 60),
            match(SPEND, 60),
            match(ASSETS, 10),
            match(INQUIRIES, 0),
            match(TENURE, 0),
            match(SOCIAL, 10),
        ],
    )
    # shortfalls: REPAY 60, SPEND 0, ASSETS 50, INQUIRIES 40, TENURE 30, SOCIAL 20
    assert result.reasons == (REPAY, ASSETS, INQUIRIES, TENURE)
    assert (result.score, result.band) == (640, "C")


def test_equal_shortfalls_keep_the_cards_characteristic_order() -> None:
    # no matches: shortfall = best points; SPEND and ASSETS tie at 60, TENURE and SOCIAL at 30
    assert compute_score(CARD, []).reasons == (REPAY, SPEND, ASSETS, INQUIRIES)
    awarded = {"REPAY": 120, "SPEND": 60, "ASSETS": 60, "INQUIRIES": 40}
    assert adverse_reasons(CARD.characteristics, awarded) == (TENURE, SOCIAL)


def test_a_perfect_applicant_has_no_reasons() -> None:
    perfect = [match(c, c.best_points) for c in CARD.characteristics]
    result = compute_score(CARD, perfect)
    assert (result.score, result.band, result.reasons) == (840, "A", ())


def test_a_match_for_an_unknown_characteristic_is_an_error() -> None:
    with pytest.raises(ValueError):
        compute_score(CARD, [BinMatch("NOPE", "SC-NOPE/1", 10)])
