"""The opinion model of deliberation: how convened members' rankings move during the window.

Opinions are score vectors over the candidates (higher is preferred); a ranking
is the candidates sorted by decreasing score. Each voter has:

* an **informed** score vector ``w``: the position scores of the ranking the voter
  would hold with full information (its values plus the facts of the incident);
* an **informedness** ``k`` in [0, 1];
* a **current** score vector ``u``, what it would vote now. It starts as
  ``u = k * w + (1 - k) * (p + e)``: a mix of its informed view and an uninformed
  one, the public's shared gut reaction ``p`` (the position scores of a "prior"
  ranking, zero without one) plus its own noise ``e ~ N(0, noise^2)``.

* a **deliberation target** ``t``: where deliberation would lead it. The target is
  *not* the informed view by construction: it is ``t = q * w + (1 - |q|) * s``
  (:func:`deliberation_targets`), where ``s`` are the position scores of the voter's
  *takeaway* from the materials, a ranking drawn independently of ``w`` (its own
  seed stream), and ``q`` in [-1, 1] is the quality of the materials: 1 leads to
  the informed view, 0 to an unrelated one, -1 away from it (``-w`` ranks the
  informed ranking reversed).

A deliberation round moves each convened member's current opinion (models):

* ``learning``: toward its target, ``u += rate * (t - u)``, and
  ``k += rate * (1 - k)``. After ``n`` rounds ``u = t + (1 - rate)^n (u0 - t)``.
  ``rate`` is the size of the effect, ``q`` its direction.
* ``peer``: toward the informedness-weighted mean opinion of the members better
  informed than itself (``k_j > k_i``; equal ``k`` ordered by member index),
  ``u += rate * (mean - u)``, and ``k`` toward their mean informedness. The best
  informed member does not move: opinions herd to the experts of the panel.

``rate = 0`` (or no deliberation window) is the control arm. Everything here is
a pure numpy function of its arguments; the ``citizens`` population owns the
arrays and calls :func:`deliberate` once per round.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from flagship.mechanisms import ContractError

__all__ = [
    "DeliberationModel",
    "deliberate",
    "deliberation_targets",
    "initial_opinions",
    "position_scores",
    "rankings_of",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DeliberationModel = Literal["learning", "peer"]


def position_scores(rankings: IntArray, n_candidates: int) -> FloatArray:
    """Scores of complete rankings (rows of candidate indices, best first): 1 for the top, 0 last."""
    n = rankings.shape[0]
    scores = np.zeros((n, n_candidates), dtype=np.float64)
    if n_candidates == 1:
        scores[:, 0] = 1.0
        return scores
    values = 1.0 - np.arange(n_candidates, dtype=np.float64) / (n_candidates - 1)
    rows = np.repeat(np.arange(n), n_candidates)
    scores[rows, rankings.reshape(-1)] = np.tile(values, n)
    return scores


def rankings_of(scores: FloatArray) -> IntArray:
    """Rows of candidate indices by decreasing score; equal scores keep the candidates' order."""
    order: IntArray = np.argsort(-scores, axis=1, kind="stable").astype(np.int64)
    return order


def initial_opinions(
    informed: FloatArray,
    informedness: FloatArray,
    prior: FloatArray | None,
    noise: float,
    rng: np.random.Generator,
) -> FloatArray:
    """``k * w + (1 - k) * (p + e)`` for every voter (rows of ``informed``); see the module doc."""
    n, m = informed.shape
    uninformed = rng.normal(0.0, noise, size=(n, m)) if noise > 0 else np.zeros((n, m))
    if prior is not None:
        uninformed = uninformed + prior[None, :]
    k = informedness[:, None]
    opinions: FloatArray = k * informed + (1.0 - k) * uninformed
    return opinions


def deliberation_targets(informed: FloatArray, takeaway: FloatArray, quality: float) -> FloatArray:
    """``quality * informed + (1 - |quality|) * takeaway`` row by row: what deliberation leads to.

    ``quality`` in [-1, 1] is the only link between the informed views (what fidelity
    is scored against) and where deliberation moves voters; ``takeaway`` must be drawn
    independently of ``informed``.
    """
    if not -1.0 <= quality <= 1.0:
        raise ContractError(f"materials quality must be in [-1, 1], got {quality}")
    targets: FloatArray = quality * informed + (1.0 - abs(quality)) * takeaway
    return targets


def deliberate(
    current: FloatArray,
    target: FloatArray,
    informedness: FloatArray,
    rate: float,
    model: DeliberationModel,
    rounds: int = 1,
) -> tuple[FloatArray, FloatArray]:
    """``rounds`` rounds of deliberation among the rows given (one panel); new (current, informedness).

    The inputs are not modified.
    """
    if not 0.0 <= rate <= 1.0:
        raise ContractError(f"deliberation rate must be in [0, 1], got {rate}")
    u = current.copy()
    k = informedness.copy()
    if rate == 0.0 or rounds <= 0 or u.shape[0] == 0:
        return u, k
    if model == "learning":
        keep = (1.0 - rate) ** rounds  # closed form of `rounds` identical rounds
        return target + keep * (u - target), 1.0 - keep * (1.0 - k)
    if model != "peer":
        raise ContractError(f"unknown deliberation model {model!r}")
    for _ in range(rounds):
        u, k = _peer_round(u, k, rate)
    return u, k


def _peer_round(u: FloatArray, k: FloatArray, rate: float) -> tuple[FloatArray, FloatArray]:
    n = u.shape[0]
    # Most informed first; equal informedness ordered by member index (stable sort).
    order = np.argsort(-k, kind="stable")
    ku = (k[order, None] * u[order]).cumsum(axis=0)
    kk = k[order].cumsum()
    kk2 = (k[order] ** 2).cumsum()
    new_u, new_k = u.copy(), k.copy()
    # Member at sorted position p listens to positions < p (the better informed).
    for p in range(1, n):
        i = int(order[p])
        weight = float(kk[p - 1])
        if weight <= 0.0:
            continue
        mean_u = ku[p - 1] / weight
        mean_k = float(kk2[p - 1]) / weight  # informedness-weighted mean informedness
        new_u[i] = u[i] + rate * (mean_u - u[i])
        new_k[i] = k[i] + rate * max(0.0, mean_k - k[i])
    return new_u, new_k
