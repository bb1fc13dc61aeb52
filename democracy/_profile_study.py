"""``profile_study``: a run draws many three-candidate elections from a culture and scores a rule.

The classic results of social choice (how often a Condorcet winner exists under
impartial culture, how often plurality, Borda or instant runoff elects it) are
probabilities over random profiles, so one run of this mechanism is one batch of
``profiles`` elections of ``n_voters`` voters each, drawn from the mechanism's
``profiles`` stream; replications are further independent batches. It takes no
actions: everything happens in ``finish()``, with the vectorised kernels of
:mod:`flagship.democracy._count_profiles`.

Lifecycle: built from its config; ``start()`` does nothing; every action is rejected
with ``UNKNOWN_KIND`` (the study has no participants); ``finish()`` draws the profiles
and records the measures.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from flagship.mechanisms import SHARE, Action, Area, CommonReason, Measure, Mechanism, Outcome, register

from ._count_profiles import (
    Coalition,
    CultureName,
    RuleName,
    condorcet_winners,
    draw_profiles,
    manipulable,
    winners,
)

__all__ = ["ProfileStudy", "ProfileStudyConfig"]


class ProfileStudyConfig(BaseModel):
    """What one run of the study draws and which rule it scores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: RuleName = Field(
        default="plurality",
        description="the rule scored: plurality, borda, antiplurality or irv (instant runoff; "
                    "for three candidates the same as plurality with a top-two runoff)")
    culture: CultureName = Field(
        default="impartial",
        description="how profiles are drawn: impartial (IC), impartial_anonymous (IAC), mallows or "
                    "polarized (half around a reference ranking, half around its reverse)")
    mallows_phi: float = Field(
        default=0.8, gt=0, le=1,
        description="Mallows dispersion in (0, 1] (1 is impartial culture); used by mallows and polarized")
    n_voters: int = Field(default=1001, ge=1, le=10**9, description="voters per profile")
    profiles: int = Field(default=2000, ge=1, le=1_000_000, description="profiles drawn per run")
    coalition: Coalition = Field(
        default="uniform",
        description="manipulating coalitions for robustness.manipulable_share: uniform (any number "
                    "of voters sharing a ranking, all casting one other ranking) or single (one voter)")


@register
class ProfileStudy(Mechanism[ProfileStudyConfig]):
    """Draws ``profiles`` random three-candidate elections per run and scores ``rule`` on them."""

    name = "profile_study"
    Config = ProfileStudyConfig
    measures = (
        Measure("condorcet_winner_share", Area.LEGITIMACY, "ratio", True,
                "share of the run's profiles with a Condorcet winner (beats each rival head to head)",
                bounds=SHARE),
        Measure("condorcet_efficiency", Area.LEGITIMACY, "ratio", True,
                "among the run's profiles with a Condorcet winner, the share where the rule elects it",
                bounds=SHARE),
        Measure("manipulable_share", Area.ROBUSTNESS, "ratio", False,
                "share of profiles where a coalition of voters sharing a ranking (config coalition) "
                "can elect a candidate they all prefer to the sincere winner", bounds=SHARE),
        Measure("individually_manipulable_share", Area.ROBUSTNESS, "ratio", False,
                "share of profiles where one voter can elect a candidate they prefer to the sincere winner",
                bounds=SHARE),
        Measure("tie_share", Area.LEGITIMACY, "ratio", False,
                "share of profiles where the rule had co-winners (broken lexicographically)", bounds=SHARE),
    )

    def handle(self, action: Action) -> Outcome:
        return Outcome.reject(CommonReason.UNKNOWN_KIND, "profile_study takes no actions")

    def snapshot(self) -> dict[str, str]:
        return {}

    def finish(self) -> None:
        config = self.config
        rng = self.ctx.stream("profiles")
        counts = draw_profiles(rng, config.culture, config.profiles, config.n_voters, config.mallows_phi)
        condorcet = condorcet_winners(counts)
        winner, tied = winners(counts, config.rule)
        has_winner = condorcet >= 0
        record = self.ctx.recorder.measure
        record("condorcet_winner_share", _share(has_winner))
        record("condorcet_efficiency",
               _share(winner[has_winner] == condorcet[has_winner]) if has_winner.any() else None)
        record("manipulable_share", _share(manipulable(counts, config.rule, config.coalition)))
        record("individually_manipulable_share", _share(manipulable(counts, config.rule, "single")))
        record("tie_share", _share(tied))


def _share(flags: np.ndarray) -> float:
    return float(np.count_nonzero(flags)) / flags.size

