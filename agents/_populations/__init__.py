"""Simulated AI agents applying to an ``agent_gate``, honest and adversarial.

Lifecycle of one simulated agent (one participant of a population):

* At ``start()`` its identity is derived from the population's seeded stream
  (``AgentIdentity.from_seed(rng.bytes(32))``) and its latent type is drawn:
  competence and honesty in the declared ranges, a vendor (round-robin), whose
  simulated evaluator certifies it. The type never leaves the population.
* At each arrival (``act``) it takes its next step: apply (with credentials from its
  vendor's evaluator) -> answer the exam (its policy, signed with its key) ->
  once admitted, recertify when due and otherwise trade on the market (if one is
  named); when suspended or revoked, appeal once per sanction. After
  ``max_applications`` refused applications in a row it gives up.
* Status changes come back through the outcomes of its own actions and through
  the gate's bus events (AgentAdmitted / AgentSuspended / AgentReinstated /
  AgentRevoked), filtered to the gate it applies to.
* **Ungated**: when the population's mechanism *is* its market (a scenario, or an
  arm, without a gate), there is nothing to pass: every agent trades from its
  first arrival and is never sanctioned. The gate measures are then undefined.

With a market, the population publishes one ``TraderProfile`` per agent at start
(its group is the population's name; defectors are profiled as manipulators):
simulation ground truth the market uses for its measures only.

Ground truth stays here: each population reports how the gate treated its own
agents (false admission of adversaries, false rejection of honest agents), so the
gate's decisions never depend on anything but what the agents present.
"""

from ._defectors import DeceptiveAgents, SybilAgents
from ._honest import HonestAgents, IncompetentAgents
from ._impostors import ForgerAgents, ReplayerAgents
from ._params import AgentParams, DeceptiveParams, ForgerParams, HonestParams, ReplayerParams, SybilParams

__all__ = [
    "AgentParams",
    "DeceptiveAgents",
    "DeceptiveParams",
    "ForgerAgents",
    "ForgerParams",
    "HonestAgents",
    "HonestParams",
    "IncompetentAgents",
    "ReplayerAgents",
    "ReplayerParams",
    "SybilAgents",
    "SybilParams",
]
