"""What scoring returns: an `Assessment` of every input row, and a `RankedWard` built from one.

Both are plain data: the Predictor fills them, pages and the CLI read them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recovery_model.schema import Feature, Schema
from recovery_model.scoring.columns import (
    ABOVE_THRESHOLD,
    ATYPICAL,
    ATYPICAL_FEATURES,
    IMPUTED,
    IN_TOP_K,
    OLDEST_VALUE_TIME,
    OUTDATED,
    RANK,
    RISK,
    RISK_HIGH,
    RISK_LOW,
    SCORE_COLUMNS,
    TIER,
    TYPICALITY,
    UNUSUAL,
    above_threshold,
    driver_columns,
    in_top_k,
)
from recovery_model.scoring.validation import ValidationResult

if TYPE_CHECKING:
    from recovery_model.model.explain import Explanation


@dataclass(frozen=True)
class Assessment(ValidationResult):
    """Every input row, validated and scored, in input order.

    `rows`: the parsed values plus row number, status, problems, unusual and imputed values, risk, tier
    and the trust columns (rejected rows keep their place with no risk). `explanation` covers the scored
    rows only, in their order, when asked for.
    """

    explanation: Explanation | None = None

    @property
    def explained(self) -> Explanation:
        """The explanation of rows scored with `explain=True`, at least one of them scored."""
        if self.explanation is None:
            raise ValueError("no row was explained: scored with explain=False, or none could be scored")
        return self.explanation

    def unusual_features(self, row: int, schema: Schema) -> list[Feature]:
        """The features of input row `row` (0-based position) whose values are outside the typical range."""
        return [schema.features[j] for j in np.flatnonzero(self.unusual[row])]

    def missing_inputs(self, row: int, schema: Schema) -> list[str]:
        """The display names of the inputs row `row` (0-based position) did not hold, which scoring filled in."""
        return missing_inputs(self.rows.iloc[row], schema)

    def ranked(self, top_k: int | None, threshold: float) -> RankedWard:
        """The scored rows, highest risk first (ties keep input order), flagged; rejected rows beside them."""
        scored = self.scorable
        order = np.argsort(-scored[RISK].to_numpy(), kind="stable")
        ranked = scored.iloc[order]
        ranked.insert(0, RANK, np.arange(1, len(ranked) + 1))
        explanation = self.explanation.take(order) if self.explanation is not None else None
        ward = RankedWard(ranked, self.rejected, self.counts(), self.warnings, explanation)
        return ward.flagged(top_k, threshold)


@dataclass(frozen=True)
class RankedWard:
    """A ward list after validation: ranked scored rows, rejected rows, counts and explanations."""

    ranked: pd.DataFrame
    rejected: pd.DataFrame
    counts: dict[str, int]
    warnings: list[str]
    explanation: Explanation | None

    @property
    def explained(self) -> Explanation:
        """The explanation of rows scored with `explain=True`, at least one of them scored."""
        if self.explanation is None:
            raise ValueError("no row was explained: scored with explain=False, or none could be scored")
        return self.explanation

    def flagged(self, top_k: int | None, threshold: float) -> RankedWard:
        """The same ward with the top-K and threshold flags set anew: no re-scoring, no re-explaining."""
        ranked = self.ranked.assign(**{IN_TOP_K: in_top_k(self.ranked[RANK].to_numpy(), top_k),
                                       ABOVE_THRESHOLD: above_threshold(self.ranked[RISK], threshold)})
        return replace(self, ranked=ranked)

    def table(self, schema: Schema) -> pd.DataFrame:
        """The list a bed manager reads: rank, ids and pass-through columns, risk, tier, flags,
        the top drivers (when explained), then the values as parsed."""
        ranked = self.ranked
        features = schema.feature_names
        ages = [c for c in (OUTDATED, OLDEST_VALUE_TIME) if c in ranked.columns]  # what the values rest on in time
        passthrough = [c for c in ranked.columns if c not in features and c not in SCORE_COLUMNS and c not in ages]
        table = ranked[[RANK, *passthrough, RISK, RISK_LOW, RISK_HIGH, TIER, IN_TOP_K, ABOVE_THRESHOLD, ATYPICAL,
                        ATYPICAL_FEATURES, TYPICALITY, UNUSUAL, IMPUTED, *ages]].copy()
        if self.explanation is not None:
            columns = driver_columns()
            texts = [self.explanation.driver_text(i, schema, len(columns)) for i in range(len(ranked))]
            for d, column in enumerate(columns):
                table[column] = [t[d] if d < len(t) else "" for t in texts]
        return pd.concat([table, ranked[features]], axis=1).reset_index(drop=True)


def missing_inputs(row: pd.Series, schema: Schema) -> list[str]:
    """The display names of the inputs a scored row did not hold (the ones `missing_risk_*` spread over)."""
    return [f.display_name for f in schema.features if pd.isna(row[f.name])]
