"""Scorecard arithmetic: points to a clamped score, the score to a band, shortfalls to adverse-action reasons.

Takes any objects of the right shape (the engine's ScorecardSpec and BinMatch fit) without importing them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

MAX_REASONS = 4  # adverse-action notices state at most four principal reasons (Regulation B)


class CharacteristicLike(Protocol):
    @property
    def characteristic_id(self) -> str: ...

    @property
    def best_points(self) -> int: ...


class BandLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def min_score(self) -> int: ...


class BinMatchLike(Protocol):
    @property
    def characteristic_id(self) -> str: ...

    @property
    def points(self) -> int: ...


C = TypeVar("C", bound=CharacteristicLike)
C_co = TypeVar("C_co", bound=CharacteristicLike, covariant=True)


class ScorecardLike(Protocol[C_co]):
    @property
    def base_points(self) -> int: ...

    @property
    def min_score(self) -> int: ...

    @property
    def max_score(self) -> int: ...

    @property
    def bands(self) -> Sequence[BandLike]: ...  # best first

    @property
    def characteristics(self) -> Sequence[C_co]: ...  # most important first breaks shortfall ties


@dataclass(frozen=True)
class ScoreResult(Generic[C]):
    score: int  # clamped to the card's range
    band: str | None  # None when no band's minimum is reached (a bundle that leaves scores without a band)
    reasons: tuple[C, ...]  # the characteristics that cost the most points, most important first


def compute_score(card: ScorecardLike[C], matches: Sequence[BinMatchLike]) -> ScoreResult[C]:
    """Score = base + the points of each characteristic's first matching bin, clamped to [min, max].

    `matches` are in bin order; only the first match of a characteristic counts, and a characteristic
    without a match scores 0. Raises ValueError for a match naming a characteristic the card lacks.
    """
    known = {c.characteristic_id for c in card.characteristics}
    awarded: dict[str, int] = {}
    for match in matches:
        if match.characteristic_id not in known:
            raise ValueError(f"no characteristic {match.characteristic_id!r} on this scorecard")
        awarded.setdefault(match.characteristic_id, match.points)
    raw = card.base_points + sum(awarded.values())
    score = min(max(raw, card.min_score), card.max_score)
    return ScoreResult(
        score=score,
        band=band_for(score, card.bands),
        reasons=adverse_reasons(card.characteristics, awarded),
    )


def band_for(score: int, bands: Sequence[BandLike]) -> str | None:
    """The first band, in the given best-first order, whose min_score <= score; None if there is none."""
    return next((band.name for band in bands if band.min_score <= score), None)


def adverse_reasons(
    characteristics: Sequence[C], awarded: Mapping[str, int], limit: int = MAX_REASONS
) -> tuple[C, ...]:
    """The characteristics with the largest shortfall (best_points - awarded, 0 awarded when unmatched).

    Only shortfalls above 0 count; largest first, ties in the characteristics' order; at most `limit`.
    """
    shortfalls = [(c.best_points - awarded.get(c.characteristic_id, 0), c) for c in characteristics]
    short = [(gap, c) for gap, c in shortfalls if gap > 0]
    short.sort(key=lambda pair: -pair[0])  # sort is stable: equal shortfalls keep characteristic order
    return tuple(c for _gap, c in short[:limit])
