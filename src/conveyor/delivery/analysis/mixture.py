"""The mixture martingale behind the count, latency and label tests (Lindon & Malek, 2022).

Model. Requests are routed at random, a share ``s_i`` of them to the canary during window
``i``. Take one kind of event (an error, a latency in bin ``k``, a wrong prediction) and let
``rho`` be the ratio of the canary's per-request rate of it to the stable version's. An
event then comes from the canary with probability::

    theta_i(rho) = rho * s_i / (rho * s_i + 1 - s_i)        (theta_i(1) = s_i under H0)

Likelihood ratio of ``rho`` against ``rho = 1`` for a window where ``a`` of ``m`` events
came from the canary (``theta/s = rho / (1 + s(rho-1))`` and ``(1-theta)/(1-s) = 1 / (1 +
s(rho-1))``)::

    L_i(rho) = theta^a (1-theta)^(m-a) / (s^a (1-s)^(m-a)) = rho^a / (1 + s_i (rho - 1))^m

Under H0, given the past and ``m``, ``a ~ Binomial(m, s_i)`` and ``E[rho^a] = (1 + s_i(rho -
1))^m`` (the binomial's generating function), so every factor has mean one and the product
over windows, each with its own share, is a martingale. Any mixture over ``rho`` (here
discrete weights on a grid of ``log rho``) is a martingale too, and Ville's inequality gives
``P(sup_t BF_t >= 1/alpha) <= alpha``: ``p_t = min(1, 1 / max_{u<=t} BF_u)`` is an
always-valid p-value, so the test may be looked at after every window.

Two refinements keep the bound where the model is only approximately right:

- One-sided (canary worse, ``rho > 1``): the prior sits on ``rho > 1`` only. If the truth is
  ``rho' < 1`` then ``E[rho^a] = (1 + theta'(rho-1))^m <= (1 + s(rho-1))^m`` for ``rho > 1``,
  so the product is a supermartingale under the whole null "canary not worse".
- When ``s_i`` is the realised share ``n_c / (n_c + n_s)`` of the window instead of the
  routing weight, ``a`` given ``m`` is hypergeometric; Hoeffding (1963, theorem 4) bounds
  ``E f(hypergeometric) <= E f(binomial)`` for convex ``f``, and ``rho^a`` is convex in ``a``,
  so again a supermartingale.

With one constant share a prior on ``rho`` is a prior on ``theta`` and this is the
Beta-Binomial mSPRT with that prior; a normal prior on ``log rho`` lets one grid serve
every share. Several kinds of event (latency bins) each get their own ``rho_k`` with
independent priors: the likelihood factorises by kind, so the mixture is the product of
the per-kind mixtures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

LOG_RHO = np.linspace(-math.log(64.0), math.log(64.0), 257)  # rate ratios 1/64 .. 64


@dataclass(frozen=True, eq=False)
class Prior:
    """Discrete mixing weights on a grid of ``log rho``."""

    log_rho: np.ndarray
    log_weights: np.ndarray  # normalised: logsumexp == 0


def normal_prior(scale: float, *, one_sided: bool) -> Prior:
    """A normal prior on ``log rho`` with sd ``scale``; on ``rho > 1`` only if one-sided."""
    grid = LOG_RHO[LOG_RHO > 0] if one_sided else LOG_RHO
    log_w = -0.5 * (grid / scale) ** 2
    return Prior(grid, log_w - logsumexp(log_w))


def running_log_ratios(
    hits: np.ndarray, totals: np.ndarray, shares: np.ndarray, log_rho: np.ndarray
) -> np.ndarray:
    """``log L(rho)`` accumulated after each window, shape ``(windows, kinds, grid)``.

    ``hits[i, k]`` canary events of kind ``k`` in window ``i`` out of ``totals[i, k]`` on
    both arms; ``shares[i]`` the canary's share in window ``i``.
    """
    g = log_rho[None, None, :]
    log_norm = np.log1p(shares[:, None, None] * np.expm1(g))
    step = hits[:, :, None] * g - totals[:, :, None] * log_norm
    return np.cumsum(step, axis=0)


def running_log_bayes_factor(
    hits: np.ndarray, totals: np.ndarray, shares: np.ndarray, prior: Prior
) -> np.ndarray:
    """The mixture's ``log BF`` after each window (kinds multiplied), shape ``(windows,)``."""
    if hits.shape[0] == 0:
        return np.zeros(0)
    llr = running_log_ratios(hits, totals, shares, prior.log_rho)
    per_kind = logsumexp(llr + prior.log_weights, axis=2)
    return np.asarray(per_kind.sum(axis=1), dtype=float)


def always_valid_p(log_bf_path: np.ndarray) -> float:
    """``min(1, 1 / max_t BF_t)`` over the path so far (1 before any data)."""
    if log_bf_path.size == 0:
        return 1.0
    return float(math.exp(-max(float(log_bf_path.max()), 0.0)))


def ratio_confidence_sequence(
    hits: np.ndarray, totals: np.ndarray, shares: np.ndarray, alpha: float, scale: float
) -> tuple[float, float]:
    """An anytime-valid ``1 - alpha`` interval for the rate ratio ``rho`` of one kind.

    For each ``rho0`` on the grid, the mixture of ``L(rho) / L(rho0)`` is a martingale when
    ``rho0`` is true (the same argument as above, centred at ``rho0``); the interval is the
    set of ``rho0`` it has not rejected. Returns ``(low, high)``; a bound at the grid's edge
    (1/64 or 64) means "at least as far as that".
    """
    prior = normal_prior(scale, one_sided=False)
    if hits.size == 0:
        return (math.exp(LOG_RHO[0]), math.exp(LOG_RHO[-1]))
    llr = running_log_ratios(hits[:, None], totals[:, None], shares, prior.log_rho)[-1, 0]
    mixed = logsumexp(llr + prior.log_weights)
    kept = prior.log_rho[mixed - llr < math.log(1.0 / alpha)]
    if kept.size == 0:  # cannot happen with a proper prior, kept for safety of min/max
        return (math.nan, math.nan)
    return (math.exp(kept.min()), math.exp(kept.max()))
