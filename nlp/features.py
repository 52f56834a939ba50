"""Feature extraction: jieba words, character n-grams and the plan rules, as one sparse matrix.

A scikit-learn transformer (parameters stored unchanged in __init__, learned state ends in `_`)
so it can sit in a Pipeline, be cloned and grid-searched. Each text is normalised once; the rule
hits are features too (rule ids, codes, sector cues), which is how the model learns how much to
trust each rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from nlp.normalize import Normalized, normalize_with_map
from nlp.rules import RuleMatch, load_rule_engine
from nlp.segment import segment_normalized


def _identity(doc: list[str]) -> list[str]:
    """Analyzer for pre-segmented documents (module level so artefacts pickle)."""
    return doc


@dataclass(frozen=True)
class Prepared:
    """One text after normalisation, segmentation and rule matching (shared by all heads)."""

    norm: Normalized
    words: list[str]
    match: RuleMatch


def prepare(texts: Iterable[str], titles: Sequence[str | None] | None = None) -> list[Prepared]:
    """Normalise, segment and rule-match each text once. A title, when given, adds its words to
    the model's view; rules and evidence stay on the text itself so offsets index it."""
    engine = load_rule_engine()
    out = []
    for i, text in enumerate(texts):
        norm = normalize_with_map(text)
        words = segment_normalized(norm.text)
        title = titles[i] if titles is not None else None
        if title:
            words = segment_normalized(normalize_with_map(title).text) + words
        out.append(Prepared(norm, words, engine.match_normalized(norm)))
    return out


class TextFeatures(TransformerMixin, BaseEstimator):
    """Raw texts (or `Prepared` items) -> [word TF-IDF | char n-gram TF-IDF | rule features]."""

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (1, 3),
        max_word_features: int = 30000,
        max_char_features: int = 40000,
        min_df: int = 2,
        use_rules: bool = True,
        rule_weight: float = 1.0,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.max_word_features = max_word_features
        self.max_char_features = max_char_features
        self.min_df = min_df
        self.use_rules = use_rules
        self.rule_weight = rule_weight

    @staticmethod
    def _as_prepared(X: Iterable) -> list[Prepared]:
        items = list(X)
        if items and all(isinstance(x, Prepared) for x in items):
            return items
        return prepare([str(x) for x in items])

    def fit(self, X: Iterable, y: object = None) -> TextFeatures:
        """Learn vocabularies and IDF weights (X may include unlabelled texts)."""
        prep = self._as_prepared(X)
        self.word_vectorizer_ = TfidfVectorizer(
            analyzer=_identity,
            min_df=self.min_df,
            max_features=self.max_word_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        self.char_vectorizer_ = TfidfVectorizer(
            analyzer="char",
            ngram_range=self.char_ngram_range,
            min_df=self.min_df,
            max_features=self.max_char_features,
            sublinear_tf=True,
            lowercase=False,
            dtype=np.float32,
        )
        # word n-grams need the analyzer to produce them: expand here, not in the vectorizer
        self.word_vectorizer_.fit([self._word_grams(p.words) for p in prep])
        self.char_vectorizer_.fit([p.norm.text for p in prep])
        engine = load_rule_engine()
        self.rule_ids_ = list(engine.rule_ids)
        self.rule_codes_ = list(dict.fromkeys(r.code for r in engine.rules))
        self.cue_sectors_ = list(engine.cue_sectors)
        self.n_features_out_ = (
            len(self.word_vectorizer_.vocabulary_)
            + len(self.char_vectorizer_.vocabulary_)
            + (self._n_rule_features() if self.use_rules else 0)
        )
        return self

    def _word_grams(self, words: list[str]) -> list[str]:
        lo, hi = self.word_ngram_range
        out = []
        for n in range(lo, hi + 1):
            if n == 1:
                out.extend(words)
            else:
                out.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        return out

    def _n_rule_features(self) -> int:
        return len(self.rule_ids_) + len(self.rule_codes_) + len(self.cue_sectors_) + 1

    def _rule_matrix(self, prep: list[Prepared]) -> sp.csr_matrix:
        rid = {r: i for i, r in enumerate(self.rule_ids_)}
        off_code = len(self.rule_ids_)
        cid = {c: off_code + i for i, c in enumerate(self.rule_codes_)}
        off_cue = off_code + len(self.rule_codes_)
        sid = {s: off_cue + i for i, s in enumerate(self.cue_sectors_)}
        any_col = off_cue + len(self.cue_sectors_)
        m = np.zeros((len(prep), self._n_rule_features()), dtype=np.float32)
        for row, p in enumerate(prep):
            for h in p.match.hits:
                if h.rule.id in rid:
                    m[row, rid[h.rule.id]] = 1.0
                if h.rule.code in cid:
                    m[row, cid[h.rule.code]] = 1.0
                m[row, any_col] = 1.0
            for sector, score in p.match.cue_scores.items():
                if sector in sid:
                    m[row, sid[sector]] = np.log1p(score)
        return sp.csr_matrix(m * self.rule_weight)

    def _sklearn_transform(self, prep: list[Prepared]) -> sp.csr_matrix:
        """Reference path through the fitted TfidfVectorizers (slow per call)."""
        parts = [
            self.word_vectorizer_.transform([self._word_grams(p.words) for p in prep]),
            self.char_vectorizer_.transform([p.norm.text for p in prep]),
        ]
        if self.use_rules:
            parts.append(self._rule_matrix(prep))
        return sp.hstack(parts, format="csr", dtype=np.float32)

    def _char_grams(self, text: str) -> list[str]:
        lo, hi = self.char_ngram_range
        n_chars = len(text)
        return [text[i : i + n] for n in range(lo, hi + 1) for i in range(n_chars - n + 1)]

    def transform(self, X: Iterable) -> sp.csr_matrix:
        """Sparse feature matrix, one row per text.

        Computes the same TF-IDF values as the fitted vectorizers (sublinear tf x idf, l2 per
        block; a test checks equality) straight into one CSR matrix: the vectorizers' per-call
        validation cost more than the counting for short texts.
        """
        check_is_fitted(self, "word_vectorizer_")
        prep = self._as_prepared(X)
        wv, cv = self.word_vectorizer_, self.char_vectorizer_
        w_get, c_get = wv.vocabulary_.get, cv.vocabulary_.get
        c_off = len(wv.vocabulary_)
        idf = np.concatenate([wv.idf_, cv.idf_])
        indptr = [0]
        cols: list[int] = []
        tfs: list[int] = []
        seg_starts: list[int] = []  # one segment per (document, block) for the l2 norm
        for p in prep:
            for grams, get, off in (
                (self._word_grams(p.words), w_get, 0),
                (self._char_grams(p.norm.text), c_get, c_off),
            ):
                begin = len(cols)
                for g, k in Counter(grams).items():
                    j = get(g)
                    if j is not None:
                        cols.append(j + off)
                        tfs.append(k)
                if len(cols) > begin:
                    seg_starts.append(begin)
            indptr.append(len(cols))
        col_arr = np.asarray(cols, dtype=np.int64)
        vals = (1.0 + np.log(np.asarray(tfs, dtype=np.float64))) * idf[col_arr]
        if len(vals):
            starts = np.asarray(seg_starts, dtype=np.int64)
            norms = np.sqrt(np.add.reduceat(vals * vals, starts))
            vals /= np.repeat(norms, np.diff(np.append(starts, len(vals))))
        indices, data = col_arr, vals
        n_text = c_off + len(cv.vocabulary_)
        text_part = sp.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(prep), n_text),
        )
        text_part.sort_indices()
        if not self.use_rules:
            return text_part
        return sp.hstack([text_part, self._rule_matrix(prep)], format="csr", dtype=np.float32)
