"""Drift methods: the statistics behind :func:`~jupyter_mlops.monitoring.detect_drift`.

Each method is a small :class:`DriftMethod`: a ``name``, the column ``kinds`` it applies to, a
``default_threshold``, ``higher_is_drift`` (``True`` for distances, where a score at or above
the threshold is drift; ``False`` for tests, where the p-value is the score and a p-value below
the threshold is drift) and ``compute(ref, cur) -> (statistic, p_value or None)``. Add one with
:func:`register_method`.

Inputs
------
``input = "values"`` methods (``ks``, ``wasserstein``, ``anderson``, ``cramer_von_mises``) get
the two samples as **sorted** ``float64`` arrays without missing values.

``input = "counts"`` methods (``chisquare``, ``z``, ``psi``, ``jensenshannon``, ``kl_div``,
``hellinger``) get two aligned arrays of counts, one entry per category or bin (entries empty on
both sides removed). Categorical and boolean columns: one entry per distinct value. Numeric and
datetime columns: one entry per distinct value when the two sides together hold at most
:data:`N_BINS` (10) distinct values; otherwise :data:`N_BINS` bins cut at the reference deciles
(``numpy.quantile`` with its default linear interpolation; duplicate edges merged), the outer
bins open to ``-inf`` and ``+inf`` so current values outside the reference range still count;
bins are closed on the left, ``[q_i, q_i+1)``.

Every statistic and p-value equals scipy's on the same data:

================== ==================================================================== =========
name               statistic (p-value)                                                  drift if
================== ==================================================================== =========
ks                 ``scipy.stats.ks_2samp`` D (p-value, method ``"auto"``)              p <= t
chisquare          ``scipy.stats.chi2_contingency(2 x k table, correction=False)``      p < t
z                  two-proportion z (p = ``2 * norm.sf(abs(z))``, equal to chisquare's)  p < t
wasserstein        ``wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)``          s >= t
psi                ``sum((p_ref - p_cur) * ln(p_ref / p_cur))``, empty bins floored      s >= t
jensenshannon      ``scipy.spatial.distance.jensenshannon(p_ref, p_cur)``, natural log   s >= t
kl_div             ``scipy.stats.entropy(p_ref, p_cur)`` = sum of ``rel_entr``, floored  s >= t
hellinger          ``euclidean(sqrt(p_ref), sqrt(p_cur)) / sqrt(2)``                     s >= t
anderson           ``scipy.stats.anderson_ksamp([ref, cur], variant="midrank")``         p < t
cramer_von_mises   ``scipy.stats.cramervonmises_2samp(ref, cur)``                        p <= t
================== ==================================================================== =========

The comparisons (``<`` or ``<=``), the Jensen-Shannon log base (natural, so the distance is at
most ``sqrt(ln 2)`` ~ 0.83) and the floor for empty bins in PSI and KL are Evidently's: a zero
proportion becomes ``1e-4``, or the side's smallest non-zero proportion divided by ``1e6`` when
that is itself ``<= 1e-4``; proportions are not renormalized before PSI (``entropy`` renormalizes
for KL). The chi-square test is the test of homogeneity of the 2 x k table (Evidently uses a
goodness-of-fit test of the current counts against the scaled reference counts instead, which
breaks on a category the reference never saw). ``ks`` computes D from the sorted samples
(each side sorted once, then merged) and, above 10,000 values on a side, the
p-value with ``scipy.stats.kstwo.sf(D, round(n m / (n + m)))`` exactly as ``ks_2samp`` does;
below, it calls ``ks_2samp`` itself for the exact p-value. ``wasserstein`` is scipy's
``_cdf_distance`` on the pre-sorted samples. Anderson-Darling p-values are scipy's interpolated
ones, floored at 0.001 and capped at 0.25.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.monitoring.kinds import NUMERIC_KINDS, TESTABLE_KINDS

N_BINS = 10
EXACT_KS_MAX = 10_000  # scipy's ks_2samp computes exact p-values up to this many values a side
WASSERSTEIN_MIN_STD = 0.001


class NotApplicable(ValueError):
    """A method cannot test this column's data (reported as the column's status)."""


class DriftMethod:
    """Base class of the drift methods: subclass it and :func:`register_method` an instance.

    Attributes
    ----------
    name : str
        What users pass as ``method=``.
    kinds : frozenset of str
        Column kinds the method applies to.
    default_threshold : float
        Threshold used when the caller gives none.
    higher_is_drift : bool
        ``True``: the score is the statistic and ``score >= threshold`` is drift. ``False``: the
        score is the p-value and ``p < threshold`` (``<=`` when ``inclusive``) is drift.
    inclusive : bool
        Whether a p-value equal to the threshold is drift (distances: always inclusive).
    input : {"values", "counts"}
        Sorted finite values, or aligned counts per category/bin (see the module docstring).
    min_values : int
        Fewest non-missing values a side needs.
    """

    name = ""
    kinds: frozenset[str] = TESTABLE_KINDS
    default_threshold = 0.1
    higher_is_drift = True
    inclusive = False
    input = "counts"
    min_values = 1

    def compute(self, ref: np.ndarray, cur: np.ndarray) -> tuple[float, float | None]:
        """The statistic and the p-value (``None`` for distances) of ``ref`` against ``cur``."""
        raise NotImplementedError

    def score(self, statistic: float, p_value: float | None) -> float:
        """The number compared with the threshold."""
        return statistic if self.higher_is_drift else float("nan" if p_value is None else p_value)

    def is_drift(self, statistic: float, p_value: float | None, threshold: float) -> bool:
        """Whether the result crosses ``threshold``."""
        score = self.score(statistic, p_value)
        if self.higher_is_drift:
            return bool(score >= threshold)
        return bool(score <= threshold if self.inclusive else score < threshold)

    def __repr__(self) -> str:
        """``<drift method 'name'>``."""
        return f"<drift method {self.name!r}>"


class _Test(DriftMethod):
    default_threshold = 0.05
    higher_is_drift = False


class KolmogorovSmirnov(_Test):
    """Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``)."""

    name, kinds, inclusive, input = "ks", NUMERIC_KINDS, True, "values"

    def compute(self, ref: np.ndarray, cur: np.ndarray) -> tuple[float, float | None]:
        """D and its p-value (exact up to 10,000 values a side, asymptotic above)."""
        if max(len(ref), len(cur)) <= EXACT_KS_MAX:
            from scipy import stats

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # exact -> asymp fallback
                result = stats.ks_2samp(ref, cur)
            return float(result.statistic), float(result.pvalue)
        d = ks_statistic(ref, cur)
        return d, ks_asymptotic_pvalue(d, len(ref), len(cur))


class Wasserstein(DriftMethod):
    """Wasserstein-1 distance divided by the reference standard deviation (Evidently's norm)."""

    name, kinds, inclusive, input = "wasserstein", NUMERIC_KINDS, True, "values"

    def compute(self, ref: np.ndarray, cur: np.ndarray) -> tuple[float, float | None]:
        """The normed distance; no p-value."""
        norm = max(float(np.std(ref)), WASSERSTEIN_MIN_STD)
        return wasserstein(ref, cur) / norm, None


class AndersonDarling(_Test):
    """k-sample Anderson-Darling test with two samples (``scipy.stats.anderson_ksamp``)."""

    name, kinds, input = "anderson", NUMERIC_KINDS, "values"

    def compute(self, ref: np.ndarray, cur: np.ndarray) -> tuple[float, float | None]:
        """The normalized statistic and scipy's interpolated p-value (0.001 to 0.25)."""
        from scipy import stats

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "p-value (capped|floored)", UserWarning)
            try:
                result = stats.anderson_ksamp([ref, cur], variant="midrank")
            except TypeError:  # scipy < 1.17 has no `variant`
                result = stats.anderson_ksamp([ref, cur], midrank=True)
        return float(result.statistic), float(result.pvalue)


class CramerVonMises(_Test):
    """Two-sample Cramér-von Mises test (``scipy.stats.cramervonmises_2samp``)."""

    name, kinds, inclusive, input, min_values = "cramer_von_mises", NUMERIC_KINDS, True, "values", 2

    def compute(self, ref: np.ndarray, cur: np.ndarray) -> tuple[float, float | None]:
        """T and its p-value (exact up to 20 values a side, asymptotic above)."""
        from scipy import stats

        result = stats.cramervonmises_2samp(ref, cur)
        return float(result.statistic), float(result.pvalue)


class ChiSquare(_Test):
    """Chi-square test of homogeneity of the 2 x k table of counts."""

    name = "chisquare"

    def compute(self, ref: np.ndarray, cur: np.ndarray) -> tuple[float, float | None]:
        """Pearson's statistic (no Yates correction) and its p-value."""
        from scipy import stats

        result = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
        return float(result.statistic), float(result.pvalue)


class ZTest(_Test):
    """Two-proportion z-test for a column with two values."""

    name = "z"

    def compute(self, ref: np.ndarray, cur: np.ndarray) -> tuple[float, float | None]:
        """The z statistic for the share of the second value (reference minus current), p-value."""
        from scipy import stats

        if len(ref) > 2:
            raise NotApplicable(
                f"the z-test needs two values, the column has {len(ref)} values or bins"
            )
        if len(ref) < 2:
            return 0.0, 1.0
        n1, n2 = float(ref.sum()), float(cur.sum())
        p1, p2 = ref[1] / n1, cur[1] / n2
        pooled = (ref[1] + cur[1]) / (n1 + n2)
        z = float((p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)))
        return z, float(2 * stats.norm.sf(abs(z)))


class PSI(DriftMethod):
    """Population stability index on floored proportions."""

    name = "psi"

    def compute(self, ref: np.ndarray, cur: np.ndarray) -> tuple[float, float | None]:
        """The index; no p-value."""
        p, q = floored(proportions(ref)), floored(proportions(cur))
        return float(np.sum((p - q) * np.log(p / q))), None


class JensenShannon(DriftMethod):
    """Jensen-Shannon distance with the natural log (``scipy.spatial.distance.jensenshannon``)."""

    name = "jensenshannon"

    def compute(self, ref: np.ndarray, cur: np.ndarray) -> tuple[float, float | None]:
        """The distance (between 0 and sqrt(ln 2)); no p-value."""
        from scipy.spatial import distance

        return float(distance.jensenshannon(proportions(ref), proportions(cur))), None


class KLDivergence(DriftMethod):
    """Kullback-Leibler divergence KL(reference || current) on floored proportions."""

    name = "kl_div"

    def compute(self, ref: np.ndarray, cur: np.ndarray) -> tuple[float, float | None]:
        """The divergence in nats; no p-value."""
        from scipy import stats

        return float(stats.entropy(floored(proportions(ref)), floored(proportions(cur)))), None


class Hellinger(DriftMethod):
    """Hellinger distance between the two distributions of proportions."""

    name = "hellinger"

    def compute(self, ref: np.ndarray, cur: np.ndarray) -> tuple[float, float | None]:
        """The distance (between 0 and 1); no p-value."""
        from scipy.spatial import distance

        p, q = proportions(ref), proportions(cur)
        return float(distance.euclidean(np.sqrt(p), np.sqrt(q)) / math.sqrt(2)), None


METHODS: dict[str, DriftMethod] = {}


def register_method(method: DriftMethod) -> DriftMethod:
    """Make ``method`` available by its name to ``detect_drift(method=...)``; returns it."""
    if not isinstance(method, DriftMethod) or not method.name:
        raise InvalidInput("A drift method is a DriftMethod instance with a non-empty name.")
    if method.input not in ("values", "counts"):
        raise InvalidInput(f"Drift method {method.name!r}: input must be 'values' or 'counts'.")
    METHODS[method.name] = method
    return method


def get_method(spec: str | DriftMethod) -> DriftMethod:
    """The registered method called ``spec`` (an instance passes through)."""
    if isinstance(spec, DriftMethod):
        return spec
    method = METHODS.get(spec) if isinstance(spec, str) else None
    if method is None:
        raise InvalidInput(f"Unknown drift method {spec!r}; use one of: {', '.join(METHODS)}.")
    return method


for _cls in (
    KolmogorovSmirnov,
    ChiSquare,
    ZTest,
    Wasserstein,
    PSI,
    JensenShannon,
    KLDivergence,
    Hellinger,
    AndersonDarling,
    CramerVonMises,
):
    register_method(_cls())


def choose_method(kind: str, n_ref_values: int, n_distinct: int) -> DriftMethod:
    """Evidently's automatic choice ("data drift algorithm").

    With at most 1000 non-missing reference values: ``ks`` for numeric columns with more than
    5 distinct values, else ``chisquare`` (``z`` with at most 2 distinct values). With more:
    ``wasserstein`` for numeric columns with more than 5 distinct values, else
    ``jensenshannon``. Distinct values are counted over both sides; datetimes count as numeric.
    """
    continuous = kind in NUMERIC_KINDS and n_distinct > 5
    if n_ref_values <= 1000:
        name = "ks" if continuous else ("chisquare" if n_distinct > 2 else "z")
    else:
        name = "wasserstein" if continuous else "jensenshannon"
    return METHODS[name]


# --- the arithmetic --------------------------------------------------------------------------


def cdf_gaps(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The merged sorted values and ``F_ref - F_cur`` at each position of the merge.

    ``F`` counts the values up to and including that position. At the last position of each
    run of equal values that is ``searchsorted(side="right")``, the count scipy's ``ks_2samp``
    and ``wasserstein_distance`` use; inside a run it is smaller, which only matters for KS
    (see :func:`ks_statistic`): Wasserstein multiplies it by a zero-width step. A stable
    argsort of two sorted runs is a linear merge, and the counts are a cumulative sum, so no
    binary search is needed.
    """
    n1, n2 = len(ref), len(cur)
    both = np.concatenate((ref, cur))
    order = np.argsort(both, kind="stable")
    merged = both[order]
    del both
    counts_ref = np.cumsum(order < n1)
    del order
    counts_cur = np.arange(1, n1 + n2 + 1)
    counts_cur -= counts_ref
    gaps = counts_ref / n1
    del counts_ref
    gaps -= counts_cur / n2
    return merged, gaps


def ks_statistic(ref: np.ndarray, cur: np.ndarray) -> float:
    """The two-sided KS statistic D of two sorted samples (as ``ks_2samp``)."""
    merged, gaps = cdf_gaps(ref, cur)
    run_ends = np.empty(len(merged), dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=run_ends[:-1])
    run_ends[-1] = True
    if not run_ends.all():
        gaps = gaps[run_ends]
    min_s = np.clip(-gaps.min(), 0, 1)
    max_s = gaps.max()
    return float(min_s if min_s > max_s else max_s)


def ks_asymptotic_pvalue(d: float, n1: int, n2: int) -> float:
    """``ks_2samp``'s two-sided asymptotic p-value for D with sample sizes ``n1`` and ``n2``."""
    from scipy import stats

    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))


def wasserstein(ref: np.ndarray, cur: np.ndarray) -> float:
    """``scipy.stats.wasserstein_distance`` of two sorted samples."""
    merged, gaps = cdf_gaps(ref, cur)
    np.abs(gaps, out=gaps)
    return float(_vecdot(gaps[:-1], np.diff(merged)))


def _vecdot(x: np.ndarray, y: np.ndarray) -> Any:
    # scipy uses np.vecdot when numpy has it; the same call gives the same bits.
    vecdot = getattr(np, "vecdot", None)
    return vecdot(x, y) if vecdot is not None else np.sum(x * y)


def proportions(counts: np.ndarray) -> np.ndarray:
    """Counts divided by their total."""
    return counts / counts.sum()


def floored(p: np.ndarray) -> np.ndarray:
    """``p`` with zeros replaced by Evidently's floor (see the module docstring)."""
    if p.all():
        return p
    smallest = p[p > 0].min()
    return np.where(p == 0, smallest / 1e6 if smallest <= 1e-4 else 1e-4, p)


def distinct_sorted(values: np.ndarray, limit: int) -> np.ndarray | None:
    """The distinct values of a sorted array, or ``None`` when there are more than ``limit``."""
    if len(values) == 0:
        return values
    if np.count_nonzero(values[1:] != values[:-1]) + 1 > limit:
        return None
    return np.unique(values)


def bin_counts(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Aligned counts of two sorted numeric samples (module docstring: "Inputs")."""
    ref_u, cur_u = distinct_sorted(ref, N_BINS), distinct_sorted(cur, N_BINS)
    if ref_u is not None and cur_u is not None:
        values = np.union1d(ref_u, cur_u)
        if len(values) <= N_BINS:
            return _per_value(ref, values), _per_value(cur, values)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, N_BINS + 1)[1:-1]))
    return nonempty(_per_bin(ref, edges), _per_bin(cur, edges))


def _per_value(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.searchsorted(values, points, "right") - np.searchsorted(values, points, "left")


def _per_bin(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    bounds = np.concatenate(([0], np.searchsorted(values, inner_edges, "left"), [len(values)]))
    return np.diff(bounds)


def nonempty(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two count arrays without the entries that are zero on both sides."""
    keep = (ref > 0) | (cur > 0)
    return ref[keep], cur[keep]
