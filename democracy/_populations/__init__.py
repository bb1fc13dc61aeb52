"""Voter populations of the emergency vote: citizens, a strategic coalition, sybils.

Modules: ``_params`` (what each population takes), ``_electorate`` (registration, event
plumbing and ballot timing they share), ``_citizens``, ``_adversaries`` (the strategic
coalition and the sybils).

Lifecycle of every voter population (arrival process ``none``: it reacts to the
vote's events instead of arriving on its own):

1. ``start()``: draws each member's strata (the ``strata`` stream) and, at
   ``register_at``, registers every member with the target mechanism:
   ``register {"person": <identity key>, "strata": {...}}``.
2. ``VoteConvened`` from its mechanism: notes which of its members are convened and
   the vote's rule, candidates and timetable; preferences are drawn at the first
   convening, when the candidates become known. Citizens deliberate during the
   window (see :mod:`flagship.democracy._deliberation`).
3. ``BallotOpened``: each convened member votes with probability ``turnout``, at the
   opening plus an exponential delay of mean ``time_to_vote`` seconds; members
   whose delay runs past the close still try (late ballots, rejected).
4. ``BallotClosed`` / ``DecisionTaken``: the population scores the outcome against
   the ground truth only it knows (informed or sincere preferences) and records
   its measures at ``finish()``.

Ground truth stays in the populations, so the mechanism decides only on what
voters submit. Choices documented here because the measures depend on them:

* **Panel fidelity** (``citizens``): the citizens compute the counterfactual
  decision of *all their registered members* voting their informed rankings
  (same rule, thresholds, status quo and tie-break seed, via
  :func:`flagship.democracy.decide`) and compare it with each ``DecisionTaken``
  decided by a count (fallback decisions are not scored).
* **Decision flip rate** (``citizens``): for each decision of a panel vote, the
  citizens redraw ``redraws`` panels from their registered members with the same
  stratified sortition (their own ``redraw`` stream), the size being the number of
  their members on the actual panel; each redrawn panel deliberates as the actual
  one did (same model, rate, targets and number of rounds, from the opinions held at
  the convening), all vote sincerely, and the share of redrawn decisions differing
  from the published one is the flip rate.
* **Strategic success** (``strategic_coalition``): from the anonymous cast-vote
  record in ``BallotClosed`` the coalition recounts with its own counted ballots
  replaced by its sincere ranking; a success is a decided measure it sincerely
  prefers to that counterfactual.
* **Sybils** (``sybils``): ``operators`` persons each run several actor ids; the
  first id of each operator registers genuinely, the others reuse its person key.
  Every id tries to vote (convened or not), twice with ``double_vote``; surplus
  ballots are those from duplicate ids and second tries. What was blocked is scored
  as shares of what was tried (surplus ballots, duplicate registrations), undefined
  when nothing was tried: only the attacker knows its attempts.
* **Honest ballot rejections** (``citizens``): the citizens' own rejected ballots
  (late, mostly) over their ballots submitted, apart from the attack ballots.
"""

from __future__ import annotations

# Importing the modules registers the populations, in this order.
from flagship.democracy._populations._adversaries import StrategicCoalition, Sybils
from flagship.democracy._populations._citizens import Citizens
from flagship.democracy._populations._electorate import mallows_around
from flagship.democracy._populations._params import CitizensParams, CoalitionParams, SybilParams, VoterParams

__all__ = [
    "Citizens",
    "CitizensParams",
    "CoalitionParams",
    "StrategicCoalition",
    "SybilParams",
    "Sybils",
    "VoterParams",
    "mallows_around",
]
