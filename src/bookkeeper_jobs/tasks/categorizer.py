"""The categorization engine: a company's rules first, then a model trained on the
categories people confirmed for that company, with a calibrated confidence and a decision.

Rules (in priority order) give confidence 1.0, source ``rule`` and decision ``auto``.

The model (source ``model``) is a small ensemble, every part of it CPU-only and explainable:

1. **Merchant history**: counts of the accounts earlier rows with exactly this (normalized)
   description were booked to; also those of the same amount bucket and, when dates are
   known, the same month. "31 of 40 earlier 'amznmktplace' rows were booked to L100".
2. **Text model**: character n-gram TF-IDF of the description (``char_wb`` 2-5, sublinear
   tf) plus amount features (sign; log-magnitude bucket) into an ``SGDClassifier(log_loss)``.
   It is what places a merchant never seen before ("esso", "fuel" point to K020).
3. **Blend**: ``history counts + BLEND_TEXT_WEIGHT x text probabilities``, normalized; the
   category is its arg-max. A merchant with a long, consistent history outvotes the text
   model; a new one is the text model's call.
4. **Calibration**: the blend's top share is not a probability of being right (a merchant
   booked 1 of 1 times to an account is not a sure thing). A gradient-boosted calibrator
   (``HistGradientBoostingClassifier``; isotonic regression on small data) maps a few facts
   about the prediction (blend top share and margin, text probability, history size and
   agreement) to P(correct). It is trained on out-of-fold predictions (``CV_FOLDS``-fold
   cross-validation on the training examples), so it learns how often the model is right on
   rows it did not see.
5. **Decisions**: two thresholds on that confidence, chosen at training time from the
   calibrator's own cross-validated predictions on the training examples, never on the rows
   being categorized. ``auto``: the lowest threshold at which the rows at or above it were
   right at least ``AUTO_PRECISION`` (95%) of the time; the category is booked. ``suggest``:
   the lowest threshold at which the rows between it and the auto threshold were right at
   least ``SUGGEST_PRECISION`` (50%) of the time, i.e. a suggestion is more often right than
   wrong; shown for review, not booked. Below it: ``none``.

A model's confidence is at most ``MAX_MODEL_CONFIDENCE`` (0.999; only rules are certain),
so a threshold of 1.0 means "the model never books / suggests" (too little evidence).
With fewer than ``MIN_EXAMPLES`` examples (or one account) there is no model: every row is
``none``. Measured on transactions-dev in ``bench/categorization_accuracy.py``.

Serialisation: :meth:`Categorizer.to_bytes` / :meth:`Categorizer.from_bytes` (pickle with a
format header). Unpickling runs code: load only bytes this service wrote itself (its own
artifact store), never bytes a user can upload.
"""

from __future__ import annotations

import datetime
import math
import pickle
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import numpy as np
from scipy import sparse
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import SGDClassifier

from bookkeeper_jobs.ledger import (
    UNCATEGORIZED,
    CategorySource,
    Rule,
    TrainingExample,
    normalize_description,
)

Decision = Literal["auto", "suggest", "none"]

MIN_EXAMPLES = 10
MIN_CLASSES = 2
CV_FOLDS = 5
"""Folds of the cross-validation that produces the calibrator's training data."""
CALIBRATION_FOLDS = 3
"""Folds of the calibrator's own cross-validation, from which the thresholds are chosen."""
AUTO_PRECISION = 0.95
SUGGEST_PRECISION = 0.5
SUGGEST_WINDOW = 0.05
MIN_SUGGEST_WINDOW = 20
MIN_AUTO_SUPPORT = 5
"""Out-of-fold rows needed at or above the auto threshold before the model may book."""
MAX_MODEL_CONFIDENCE = 0.999
NEVER = 1.0
"""A threshold no model confidence reaches."""
HGB_MIN_ROWS = 500
"""Below this many examples the calibrator is isotonic regression on the blend's share."""
MAX_CALIBRATION_ROWS = 40_000

AMOUNT_BUCKETS = 30
AMOUNT_FEATURE_WEIGHT = 0.5
BLEND_TEXT_WEIGHT = 0.3
MERCHANT_WEIGHT = 0.1
BUCKET_WEIGHT = 1.0
MONTH_WEIGHT = 0.5
FORMAT = b"bkjobs-categorizer/2\n"


@dataclass(frozen=True)
class Prediction:
    """``category`` is the best guess (Uncategorized without a model); ``decision`` says
    what to do with it: ``auto`` books it, ``suggest`` shows it for review, ``none`` leaves
    the row uncategorized. ``confidence`` is a calibrated probability of being right."""

    category: str
    confidence: float
    source: CategorySource
    decision: Decision = "none"
    explanation: str = ""

    @property
    def booked_category(self) -> str:
        """What the row is booked to: the category when ``auto``, else Uncategorized."""
        return self.category if self.decision == "auto" else UNCATEGORIZED

    @property
    def uncategorized(self) -> bool:
        return self.booked_category == UNCATEGORIZED


@dataclass(frozen=True)
class Item:
    """What the categorizer looks at: the description, the signed amount and, when known,
    the date."""

    description: str
    amount: Decimal
    date: datetime.date | None = None


# -- rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    matches_text: Callable[[str, str], bool]
    """(the description, its normalized form): whether the rule's text test passes."""

    def matches(self, item: Item, normalized: str) -> bool:
        low, high = self.rule.min_amount, self.rule.max_amount
        if low is not None and item.amount < low:
            return False
        if high is not None and item.amount > high:
            return False
        return self.matches_text(item.description, normalized)


def compile_rule(rule: Rule) -> CompiledRule:
    if rule.kind == "contains":
        needle = normalize_description(rule.pattern or "")
        return CompiledRule(rule, lambda _text, normalized: needle in normalized)
    if rule.kind == "regex":
        pattern = re.compile(rule.pattern or "", re.IGNORECASE)
        return CompiledRule(rule, lambda text, _normalized: pattern.search(text) is not None)
    return CompiledRule(rule, lambda _text, _normalized: True)


def first_matching_rule(rules: Sequence[CompiledRule], item: Item) -> Rule | None:
    if not rules:
        return None
    normalized = normalize_description(item.description)  # once, not once per rule
    return next((c.rule for c in rules if c.matches(item, normalized)), None)


def _rule_explanation(rule: Rule) -> str:
    what = f"{rule.kind} {rule.pattern!r}" if rule.pattern else rule.kind
    return f"rule {rule.id} ({what})"


# -- features ---------------------------------------------------------------------------

Bucket = tuple[int, bool]


def _amount_bucket(amount: Decimal | float) -> Bucket:
    """The amount as the model sees it: half-log-magnitude bucket and sign."""
    value = float(amount)
    return min(int(2 * math.log1p(abs(value))), AMOUNT_BUCKETS - 1), value < 0


def _month(date: datetime.date | None) -> int | None:
    return None if date is None else date.year * 12 + date.month


def _amount_features(buckets: Sequence[Bucket]) -> sparse.csr_matrix:
    rows = np.repeat(np.arange(len(buckets)), 2)
    cols = np.array(
        [c for bucket, negative in buckets for c in (bucket, AMOUNT_BUCKETS + int(negative))],
        dtype=np.int64,
    )
    values = np.full(len(cols), AMOUNT_FEATURE_WEIGHT, dtype=np.float32)
    return sparse.csr_matrix((values, (rows, cols)), shape=(len(buckets), AMOUNT_BUCKETS + 2))


@dataclass(frozen=True)
class _Rows:
    """Training or prediction rows, featurized once: normalized text, bucket, month."""

    texts: list[str]
    buckets: list[Bucket]
    months: list[int | None]

    @classmethod
    def of(cls, items: Sequence[Item]) -> _Rows:
        return cls(
            [normalize_description(i.description) for i in items],
            [_amount_bucket(i.amount) for i in items],
            [_month(i.date) for i in items],
        )

    def take(self, index: Sequence[int]) -> _Rows:
        return _Rows(
            [self.texts[i] for i in index],
            [self.buckets[i] for i in index],
            [self.months[i] for i in index],
        )

    def __len__(self) -> int:
        return len(self.texts)


# -- text model -------------------------------------------------------------------------


class _TextModel:
    """TF-IDF character n-grams + amount features → linear classifier with probabilities.

    Identical (text, bucket, label) rows are trained on once with their count as weight,
    which keeps training time proportional to the distinct rows (ledgers repeat merchants)."""

    def __init__(self, n_classes: int, *, seed: int = 0) -> None:
        self.n_classes = n_classes
        self._vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, dtype=np.float32
        )
        self._classifier = SGDClassifier(
            loss="log_loss", alpha=1e-5, max_iter=20, tol=1e-3, random_state=seed
        )
        self._single: int | None = None
        self._names: np.ndarray[Any, Any] | None = None

    def fit(self, rows: _Rows, labels: np.ndarray[Any, Any]) -> _TextModel:
        counts = Counter(zip(rows.texts, rows.buckets, labels.tolist(), strict=True))
        if len({label for _, _, label in counts}) < MIN_CLASSES:
            self._single = int(labels[0])
            return self
        texts = [text for text, _, _ in counts]
        features = sparse.hstack(
            [
                self._vectorizer.fit_transform(texts),
                _amount_features([bucket for _, bucket, _ in counts]),
            ]
        ).tocsr()
        with warnings.catch_warnings():
            # A fixed epoch budget keeps training time bounded; not converging to tol
            # within it costs no measurable accuracy here.
            warnings.simplefilter("ignore", ConvergenceWarning)
            self._classifier.fit(
                features,
                np.array([label for _, _, label in counts]),
                sample_weight=np.array(list(counts.values()), dtype=np.float64),
            )
        return self

    def features(self, texts: Sequence[str], buckets: Sequence[Bucket]) -> Any:
        """The model's input rows (None when there is only one class to predict)."""
        if self._single is not None or not texts:
            return None
        # Each distinct description is featurized once (rows of one merchant repeat it).
        position: dict[str, int] = {}
        rows = [position.setdefault(text, len(position)) for text in texts]
        ngrams = self._vectorizer.transform(list(position))[rows]
        return sparse.hstack([ngrams, _amount_features(buckets)]).tocsr()

    def proba(self, features: Any, rows: int) -> np.ndarray[Any, Any]:
        """Probabilities over all the categorizer's classes, one row per input row."""
        out = np.zeros((rows, self.n_classes), dtype=np.float32)
        if self._single is not None:
            out[:, self._single] = 1.0
        elif rows:
            out[:, self._classifier.classes_] = self._classifier.predict_proba(features)
        return out

    def top_ngrams(self, features: Any, row: int, label: int, count: int = 3) -> list[str]:
        """The n-grams of input row ``row`` that weigh most for ``label``."""
        if features is None or label not in self._classifier.classes_:
            return []
        if self._names is None:
            self._names = self._vectorizer.get_feature_names_out()
        names = self._names
        start, end = features.indptr[row], features.indptr[row + 1]
        columns = features.indices[start:end]
        text = columns < len(names)  # the amount features are not n-grams
        columns = columns[text]
        position = int(np.searchsorted(self._classifier.classes_, label))
        weights = self._classifier.coef_[position, columns] * features.data[start:end][text]
        order = np.argsort(-weights)[:count]
        return [str(names[columns[i]]).strip() for i in order if weights[i] > 0]


# -- merchant history -------------------------------------------------------------------


class _History:
    """Account counts per exact description, per (description, amount bucket) and per
    (description, month)."""

    def __init__(self, n_classes: int) -> None:
        self.n_classes = n_classes
        self.merchant: dict[str, np.ndarray[Any, Any]] = {}
        self.bucket: dict[tuple[str, Bucket], np.ndarray[Any, Any]] = {}
        self.month: dict[tuple[str, int], np.ndarray[Any, Any]] = {}

    def _add(self, table: dict[Any, np.ndarray[Any, Any]], key: Any, label: int) -> None:
        counts = table.get(key)
        if counts is None:
            counts = table[key] = np.zeros(self.n_classes, dtype=np.float32)
        counts[label] += 1

    def fit(self, rows: _Rows, labels: np.ndarray[Any, Any]) -> _History:
        for text, bucket, month, label in zip(
            rows.texts, rows.buckets, rows.months, labels.tolist(), strict=True
        ):
            self._add(self.merchant, text, label)
            self._add(self.bucket, (text, bucket), label)
            if month is not None:
                self._add(self.month, (text, month), label)
        return self

    def votes(self, rows: _Rows) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(weighted votes per class, earlier rows of that description) per row."""
        votes = np.zeros((len(rows), self.n_classes), dtype=np.float32)
        seen = np.zeros(len(rows), dtype=np.float32)
        for index, (text, bucket, month) in enumerate(
            zip(rows.texts, rows.buckets, rows.months, strict=True)
        ):
            counts = self.merchant.get(text)
            if counts is None:
                continue
            seen[index] = counts.sum()
            vote = MERCHANT_WEIGHT * counts
            same_bucket = self.bucket.get((text, bucket))
            if same_bucket is not None:
                vote = vote + BUCKET_WEIGHT * same_bucket
            same_month = None if month is None else self.month.get((text, month))
            if same_month is not None:
                vote = vote + MONTH_WEIGHT * same_month
            votes[index] = vote
        return votes, seen


# -- blend and calibration --------------------------------------------------------------


def _blend(text: np.ndarray[Any, Any], votes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    blend = votes + BLEND_TEXT_WEIGHT * text
    totals = blend.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1.0
    return np.asarray(blend / totals)


def _meta(
    text: np.ndarray[Any, Any],
    votes: np.ndarray[Any, Any],
    seen: np.ndarray[Any, Any],
    blend: np.ndarray[Any, Any],
) -> np.ndarray[Any, Any]:
    """What the calibrator sees of each prediction."""
    top = blend.argmax(axis=1)
    rows = np.arange(len(blend))
    ordered = np.sort(blend, axis=1)
    margin = ordered[:, -1] - (ordered[:, -2] if blend.shape[1] > 1 else 0)
    vote_total = votes.sum(axis=1)
    vote_share = votes[rows, top] / np.maximum(vote_total, 1e-9)
    return np.column_stack(
        [
            blend[rows, top],
            margin,
            text.max(axis=1),
            text[rows, top],
            vote_share,
            np.log1p(seen),
            (text.argmax(axis=1) == top).astype(np.float32),
            np.log1p(vote_total),
        ]
    ).astype(np.float32)


class _Calibrator:
    """P(the top guess is right) from the meta features: gradient boosting on enough data,
    isotonic regression of the blend's top share on little, a constant on one outcome."""

    def __init__(self) -> None:
        self._constant: float | None = None
        self._isotonic: IsotonicRegression | None = None
        self._boosted: HistGradientBoostingClassifier | None = None

    def fit(self, meta: np.ndarray[Any, Any], correct: np.ndarray[Any, Any]) -> _Calibrator:
        rate = float(correct.mean()) if len(correct) else 0.0
        if len(correct) == 0 or rate in (0.0, 1.0):
            # Laplace: n of n right is good evidence, never certainty.
            self._constant = (float(correct.sum()) + 1) / (len(correct) + 2)
        elif len(correct) < HGB_MIN_ROWS:
            self._isotonic = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
            self._isotonic.fit(meta[:, 0], correct)
        else:
            self._boosted = HistGradientBoostingClassifier(
                max_iter=100,
                learning_rate=0.05,
                max_leaf_nodes=15,
                min_samples_leaf=40,
                random_state=0,
            ).fit(meta, correct)
        return self

    def predict(self, meta: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if self._constant is not None:
            p = np.full(len(meta), self._constant)
        elif self._isotonic is not None:
            p = self._isotonic.predict(meta[:, 0])
        else:
            assert self._boosted is not None
            p = self._boosted.predict_proba(meta)[:, 1] if len(meta) else np.zeros(0)
        return np.minimum(np.asarray(p, dtype=np.float64), MAX_MODEL_CONFIDENCE)


def _folds(n: int, folds: int, seed: int) -> list[np.ndarray[Any, Any]]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[k::folds] for k in range(min(folds, n))]


def auto_threshold(confidence: np.ndarray[Any, Any], correct: np.ndarray[Any, Any]) -> float:
    """The lowest threshold whose rows at or above it are right >= AUTO_PRECISION of the
    time (at least MIN_AUTO_SUPPORT of them); NEVER if there is none."""
    order = np.argsort(-confidence, kind="stable")
    values = confidence[order]
    precision = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    # Only cut between distinct confidences: a threshold takes all rows of its value.
    last_of_value = np.r_[values[1:] != values[:-1], True]
    good = (precision >= AUTO_PRECISION) & last_of_value
    good[: MIN_AUTO_SUPPORT - 1] = False
    hits = np.flatnonzero(good)
    return float(values[hits[-1]]) if len(hits) else NEVER


def suggest_threshold(
    confidence: np.ndarray[Any, Any], correct: np.ndarray[Any, Any], auto: float
) -> float:
    """The lowest threshold at which the rows just above it (a window of SUGGEST_WINDOW of
    the rows below ``auto``, at least MIN_SUGGEST_WINDOW) are still right >= SUGGEST_PRECISION
    of the time: each suggestion shown is more often right than wrong. ``auto`` if none."""
    band = confidence < auto
    order = np.argsort(-confidence[band], kind="stable")
    values, right = confidence[band][order], correct[band][order].astype(np.float64)
    if not len(values):
        return auto
    width = min(len(values), max(MIN_SUGGEST_WINDOW, int(len(values) * SUGGEST_WINDOW)))
    # Precision of the `width` rows ending at each row (fewer at the top of the band).
    totals = np.cumsum(right)
    ends = np.arange(len(values))
    starts = np.maximum(ends - width + 1, 0)
    above = np.where(starts > 0, totals[starts - 1], 0.0)
    window = (totals - above) / (ends - starts + 1)
    # A threshold takes every row of its value: only cut after the last row of a value.
    last_of_value = np.r_[values[1:] != values[:-1], True]
    hits = np.flatnonzero((window >= SUGGEST_PRECISION) & last_of_value)
    return float(values[hits[-1]]) if len(hits) else auto


@dataclass(frozen=True)
class Reliability:
    """Cross-validated precision of the training data at the chosen thresholds."""

    auto_precision: float
    auto_coverage: float
    suggest_precision: float
    suggest_coverage: float


class Model:
    """The trained ensemble: history, text model, calibrator and thresholds."""

    def __init__(
        self,
        classes: list[str],
        text: _TextModel,
        history: _History,
        calibrator: _Calibrator,
        auto: float,
        suggest: float,
        reliability: Reliability,
    ) -> None:
        self.classes = classes
        self.text = text
        self.history = history
        self.calibrator = calibrator
        self.auto_threshold = auto
        self.suggest_threshold = suggest
        self.reliability = reliability

    @classmethod
    def train(cls, items: Sequence[Item], labels: Sequence[str], *, seed: int = 0) -> Model:
        classes = sorted(set(labels))
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[label] for label in labels], dtype=np.int64)
        rows = _Rows.of(items)
        meta, correct = _out_of_fold(rows, y, len(classes), seed)
        if len(meta) > MAX_CALIBRATION_ROWS:
            keep = np.random.default_rng(seed).choice(len(meta), MAX_CALIBRATION_ROWS, False)
            meta, correct = meta[keep], correct[keep]
        checked = np.zeros(len(meta))
        for fold in _folds(len(meta), CALIBRATION_FOLDS, seed + 1):
            rest = np.setdiff1d(np.arange(len(meta)), fold)
            checked[fold] = _Calibrator().fit(meta[rest], correct[rest]).predict(meta[fold])
        checked = np.floor(checked * 10_000) / 10_000  # as predictions are reported
        auto = auto_threshold(checked, correct)
        suggest = suggest_threshold(checked, correct, auto)
        reliability = _reliability(checked, correct, auto, suggest)
        return cls(
            classes,
            _TextModel(len(classes), seed=seed).fit(rows, y),
            _History(len(classes)).fit(rows, y),
            _Calibrator().fit(meta, correct),
            auto,
            suggest,
            reliability,
        )

    def predict(self, items: Sequence[Item], *, explain: bool = True) -> list[Prediction]:
        """One prediction per item. Ledgers repeat merchants a lot, so each distinct
        (description, amount bucket, month) is scored once. ``explain=False`` leaves the
        explanations empty (a bulk import stores none)."""
        if not items:
            return []
        rows = _Rows.of(items)
        keys = list(zip(rows.texts, rows.buckets, rows.months, strict=True))
        first: dict[tuple[str, Bucket, int | None], int] = {}
        for position, key in enumerate(keys):
            first.setdefault(key, position)
        distinct = rows.take(list(first.values()))
        features = self.text.features(distinct.texts, distinct.buckets)
        text = self.text.proba(features, len(distinct))
        votes, seen = self.history.votes(distinct)
        blend = _blend(text, votes)
        confidence = self.calibrator.predict(_meta(text, votes, seen, blend))
        best = blend.argmax(axis=1)
        scored: dict[tuple[str, Bucket, int | None], Prediction] = {}
        for row, key in enumerate(first):
            label = int(best[row])
            p = math.floor(float(confidence[row]) * 10_000) / 10_000
            scored[key] = Prediction(
                self.classes[label],
                p,
                "model",
                self.decide(p),
                self._explain(key[0], key[1], label, text[row, label], features, row)
                if explain
                else "",
            )
        return [scored[key] for key in keys]

    def decide(self, confidence: float) -> Decision:
        if confidence >= self.auto_threshold:
            return "auto"
        if confidence >= self.suggest_threshold:
            return "suggest"
        return "none"

    def _explain(
        self, text: str, bucket: Bucket, label: int, text_p: float, features: Any, row: int
    ) -> str:
        category = self.classes[label]
        counts = self.history.merchant.get(text)
        shown = text if len(text) <= 40 else text[:39] + "…"
        if counts is not None:
            total, hits = int(counts.sum()), int(counts[label])
            said = f"{hits} of {total} earlier '{shown}' rows were booked to {category}"
            same = self.history.bucket.get((text, bucket))
            if same is not None and int(same.sum()) != total:
                said += f" ({int(same[label])} of {int(same.sum())} of a similar amount)"
            return said
        grams = self.text.top_ngrams(features, row, label)
        because = f" ({', '.join(repr(g) for g in grams)})" if grams else ""
        return f"no earlier '{shown}' rows; its text{because} points to {category} ({text_p:.0%})"


def _out_of_fold(
    rows: _Rows, y: np.ndarray[Any, Any], n_classes: int, seed: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Meta features and right/wrong of each training row, predicted by models trained
    without it (``CV_FOLDS`` folds)."""
    meta = np.zeros((len(rows), 8), dtype=np.float32)
    correct = np.zeros(len(rows), dtype=np.int64)
    everything = np.arange(len(rows))
    for fold in _folds(len(rows), CV_FOLDS, seed):
        rest = np.setdiff1d(everything, fold)
        train, held = rows.take(rest.tolist()), rows.take(fold.tolist())
        text = _TextModel(n_classes, seed=seed).fit(train, y[rest])
        history = _History(n_classes).fit(train, y[rest])
        p = text.proba(text.features(held.texts, held.buckets), len(held))
        votes, seen = history.votes(held)
        blend = _blend(p, votes)
        meta[fold] = _meta(p, votes, seen, blend)
        correct[fold] = blend.argmax(axis=1) == y[fold]
    return meta, correct


def _reliability(
    confidence: np.ndarray[Any, Any], correct: np.ndarray[Any, Any], auto: float, suggest: float
) -> Reliability:
    autos = confidence >= auto
    suggests = (confidence >= suggest) & ~autos
    n = max(len(confidence), 1)
    return Reliability(
        float(correct[autos].mean()) if autos.any() else 0.0,
        float(autos.sum() / n),
        float(correct[suggests].mean()) if suggests.any() else 0.0,
        float(suggests.sum() / n),
    )


# -- the categorizer --------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    trained: bool
    examples: int
    classes: int
    auto_threshold: float = NEVER
    suggest_threshold: float = NEVER
    reliability: Reliability | None = field(default=None, compare=False)


class Categorizer:
    """Built once per task run with :meth:`train` (or :meth:`from_bytes`); :meth:`predict`
    takes pages of rows."""

    def __init__(self, rules: Sequence[Rule], model: Model | None, info: ModelInfo) -> None:
        self._rules = [compile_rule(r) for r in rules]
        self._model = model
        self.info = info

    @property
    def threshold(self) -> float:
        """At or above this confidence the model books its category (``auto``)."""
        return self.info.auto_threshold

    @property
    def suggest_threshold(self) -> float:
        return self.info.suggest_threshold

    @classmethod
    def train(
        cls, rules: Sequence[Rule], examples: Iterable[TrainingExample], *, seed: int = 0
    ) -> Categorizer:
        items: list[Item] = []
        labels: list[str] = []
        for example in examples:
            items.append(Item(example.description, example.amount, example.date))
            labels.append(example.category)
        classes = len(set(labels))
        if len(items) < MIN_EXAMPLES or classes < MIN_CLASSES:
            return cls(rules, None, ModelInfo(trained=False, examples=len(items), classes=classes))
        model = Model.train(items, labels, seed=seed)
        info = ModelInfo(
            trained=True,
            examples=len(items),
            classes=classes,
            auto_threshold=model.auto_threshold,
            suggest_threshold=model.suggest_threshold,
            reliability=model.reliability,
        )
        return cls(rules, model, info)

    def with_rules(self, rules: Sequence[Rule]) -> Categorizer:
        """The same model with the company's current rules (a cached model's rules may be
        older than the rules)."""
        return Categorizer(rules, self._model, self.info)

    def to_bytes(self) -> bytes:
        """The trained model (not the rules: pass them to :meth:`from_bytes`)."""
        return FORMAT + pickle.dumps((self._model, self.info), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes, rules: Sequence[Rule] = ()) -> Categorizer:
        """Only for bytes this service wrote (pickle runs code); ValueError on another
        format, so a cache written by an older version is retrained, not misread."""
        if not data.startswith(FORMAT):
            raise ValueError("not a categorizer of this version")
        model, info = pickle.loads(data[len(FORMAT) :])  # our own artifacts only
        if not isinstance(info, ModelInfo) or not (model is None or isinstance(model, Model)):
            raise ValueError("not a categorizer")
        return cls(rules, model, info)

    def predict(self, items: Sequence[Item], *, explain: bool = True) -> list[Prediction]:
        """One prediction per item, in order (``explain=False``: without explanations)."""
        predictions: list[Prediction | None] = []
        unmatched: list[int] = []
        for index, item in enumerate(items):
            rule = first_matching_rule(self._rules, item)
            if rule is None:
                unmatched.append(index)
                predictions.append(None)
            else:
                predictions.append(
                    Prediction(rule.account_code, 1.0, "rule", "auto", _rule_explanation(rule))
                )
        guesses = self._guess([items[i] for i in unmatched], explain)
        for index, guess in zip(unmatched, guesses, strict=True):
            predictions[index] = guess
        return [p for p in predictions if p is not None]

    def _guess(self, items: Sequence[Item], explain: bool) -> list[Prediction]:
        if self._model is None:
            why = (
                f"no model: {self.info.examples} confirmed transactions in "
                f"{self.info.classes} accounts (a model needs {MIN_EXAMPLES} in {MIN_CLASSES})"
            )
            return [Prediction(UNCATEGORIZED, 0.0, "model", "none", why) for _ in items]
        return self._model.predict(items, explain=explain)
