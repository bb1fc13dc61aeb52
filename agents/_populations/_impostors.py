"""Populations that present credentials that are not theirs to present: forgers and replayers."""

from __future__ import annotations

import json

import jwt
import numpy as np

from flagship.agents._credentials import CREDENTIAL_TYPE, Evaluator
from flagship.agents._identity import AgentIdentity, b64url_decode, b64url_encode
from flagship.mechanisms import ContractError, canonical_bytes, register

from ._agent import SimulatedAgent
from ._base import AgentPopulation
from ._params import ForgerParams, ReplayerParams

__all__ = ["ForgerAgents", "ReplayerAgents"]


@register
class ForgerAgents(AgentPopulation):
    """Agents presenting forged credentials (see :class:`ForgerParams` for the modes)."""

    name = "forger_agents"
    Params = ForgerParams

    def _make_agents(self, identities: np.random.Generator,
                     latent: np.random.Generator) -> list[SimulatedAgent]:
        agents = super()._make_agents(identities, latent)
        params = self.params
        modes = params.modes if isinstance(params, ForgerParams) else ["self_signed"]
        for agent in agents:
            agent.mode = modes[agent.index % len(modes)]
        return agents

    def _credentials(self, agent: SimulatedAgent) -> list[str]:
        params = self.params
        if not isinstance(params, ForgerParams):  # pragma: no cover - Params is ForgerParams
            raise ContractError("forger_agents: unexpected params")
        subject = agent.identity.agent_id
        claimed = params.claimed_score
        if agent.mode == "self_signed":
            return [self._self_signed(agent, claimed)]
        if agent.mode == "untrusted_evaluator":
            return [self._genuine(agent, subject, claimed, evaluator=params.untrusted_evaluator)]
        if agent.mode == "tampered":
            return [_raise_score(self._genuine(agent, subject, self._measured(agent.competence)), claimed)]
        return [self._under_trusted_kid(agent, claimed)]

    def _self_signed(self, agent: SimulatedAgent, score: float) -> str:
        agent.issued += 1
        now = self.ctx.now
        return Evaluator(agent.identity).issue(
            agent.identity.agent_id, self.params.battery, score, issued_at=now,
            valid_until=now + self.params.credential_validity,
            credential_id=f"{self.ctx.name}-{agent.index}-{agent.issued}")

    def _under_trusted_kid(self, agent: SimulatedAgent, score: float) -> str:
        """Its own signature under the header and issuer of its vendor's trusted evaluator."""
        agent.issued += 1
        now = self.ctx.now
        trusted = self._evaluator(agent.evaluator).evaluator_id
        claims = {"iss": trusted, "sub": agent.identity.agent_id,
                  "jti": f"{self.ctx.name}-{agent.index}-{agent.issued}", "iat": now, "nbf": now,
                  "exp": now + self.params.credential_validity, "battery": self.params.battery,
                  "score": score}
        return jwt.encode(claims, agent.identity.private_key, algorithm="EdDSA",
                          headers={"typ": CREDENTIAL_TYPE, "kid": trusted})


def _raise_score(token: str, score: float) -> str:
    """The token with its payload's score replaced and the original signature kept (tampering)."""
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload, "payload"))
    claims["score"] = score
    return ".".join((header, b64url_encode(canonical_bytes(claims)), signature))


@register
class ReplayerAgents(AgentPopulation):
    """Agents presenting another agent's credential (see :class:`ReplayerParams` for the modes).

    In simulation each replayer holds a victim: an identity with a genuine, fresh,
    high-score credential from a trusted evaluator, as if leaked. The replayer has
    the victim's public key and credential, never its private key.
    """

    name = "replayer_agents"
    Params = ReplayerParams

    def _make_agents(self, identities: np.random.Generator,
                     latent: np.random.Generator) -> list[SimulatedAgent]:
        agents = super()._make_agents(identities, latent)
        params = self.params
        modes = params.modes if isinstance(params, ReplayerParams) else ["credential_only"]
        for agent in agents:
            agent.mode = modes[agent.index % len(modes)]
            agent.victim = AgentIdentity.from_seed(identities.bytes(32))
        return agents

    def _credentials(self, agent: SimulatedAgent) -> list[str]:
        params = self.params
        score = params.victim_score if isinstance(params, ReplayerParams) else 1.0
        victim = agent.victim if agent.victim is not None else agent.identity
        return [self._genuine(agent, victim.agent_id, score)]

    def _identity_jwk(self, agent: SimulatedAgent) -> dict[str, str]:
        if agent.mode == "identity_and_credential" and agent.victim is not None:
            return agent.victim.public_jwk()
        return agent.identity.public_jwk()

