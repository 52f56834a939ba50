"""The learned model: scikit-learn conventions, the combination policy, the shipped artefact."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

from nlp.classifier import load_classifier, newest_artefact
from nlp.combine import MODEL_RULE, combine
from nlp.features import TextFeatures, prepare
from nlp.model import FinwatchModel, LinearHead, fit_model
from nlp.model_classifier import ModelClassifier
from nlp.rules import load_rule_engine
from nlp.vocab import load_vocabulary

VIOLATION_TEXTS = [
    "保本保息理财，年化收益18%，零风险",
    "无抵押无担保贷款，当天放款，黑户可贷，王经理",
    "旺铺售后返租，包租十年，即买即收租",
    "今带学员建仓，明日必涨停，稳定盈利",
    "高回报项目，一年宝马开回家，零风险",
    "信用卡代还提额套现，手续费低",
]
FINANCIAL_TEXTS = [
    "您尾号1234的储蓄卡账户存入2000元，余额5000元【工商银行】",
    "基金有风险，投资需谨慎，本公司产品详情见官网",
    "温馨提示：您的车险将于下月到期，请及时续保",
    "您本期信用卡账单金额1200元，到期还款日为5日【招商银行】",
    "新股发行提示：今日申购某股份，上限1万股，仅供参考【某证券】",
    "您的贷款申请已受理，请携带身份证到网点办理【建设银行】",
]
OTHER_TEXTS = [
    "今晚一起吃饭吧，老地方见",
    "周末商场大促，全场五折起",
    "明天上午十点开会，请准时参加",
    "生日快乐，祝你天天开心",
    "本店新到一批水果，欢迎选购",
    "您的快递已到达小区门口，请及时领取",
]


def _small_data(repeat: int = 3) -> tuple[list[str], list[str], list[int]]:
    texts, y, groups = [], [], []
    for k in range(repeat):
        for label, items in (
            ("violation", VIOLATION_TEXTS),
            ("financial", FINANCIAL_TEXTS),
            ("other", OTHER_TEXTS),
        ):
            for i, t in enumerate(items):
                texts.append(f"{t}{'！' * k}")
                y.append(label)
                groups.append(hash((label, i)) % 1000)
    return texts, y, groups


def _pipeline() -> Pipeline:
    return Pipeline(
        [
            ("features", TextFeatures(min_df=1, max_word_features=2000, max_char_features=2000)),
            ("head", LinearHead(C=2.0, cv=2, min_count=2)),
        ]
    )


def test_estimators_store_params_unchanged_and_clone() -> None:
    feats = TextFeatures(char_ngram_range=(2, 4), min_df=3)
    assert feats.get_params()["char_ngram_range"] == (2, 4)
    head = LinearHead(C=0.5, calibration="isotonic")
    twin = clone(head)
    assert twin.get_params() == head.get_params()
    assert not hasattr(twin, "classes_")


def test_pipeline_fits_predicts_and_grid_searches() -> None:
    texts, y, groups = _small_data()
    pipe = _pipeline().fit(texts, y)
    proba = pipe.predict_proba(["保本保息，年化20%，零风险", "晚上吃饭"])
    assert proba.shape == (2, 3)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(pipe.classes_) == ["financial", "other", "violation"]
    assert pipe.predict(["保本保息，年化20%，零风险"])[0] == "violation"
    search = GridSearchCV(
        clone(_pipeline()), {"head__C": [0.5, 2.0]}, cv=GroupKFold(n_splits=2), scoring="f1_macro"
    )
    search.fit(texts, y, groups=groups)
    assert search.best_params_["head__C"] in (0.5, 2.0)


def test_multilabel_head_leaves_rare_codes_to_rules() -> None:
    texts, _, _ = _small_data()
    X = TextFeatures(min_df=1).fit_transform(texts)
    Y = np.zeros((len(texts), 2), dtype=int)
    Y[: len(texts) // 2, 0] = 1
    Y[0, 1] = 1  # one positive: cannot be calibrated, must be left to the rules
    head = LinearHead(cv=2, min_count=2).fit(X, Y)
    proba = head.predict_proba(X)
    assert proba.shape == (len(texts), 2)
    assert head.estimators_[1] is None
    assert np.all(proba[:, 1] == 0.0)


def _fake_probs(**kw: float) -> dict[str, float]:
    return {c: kw.get(c, 0.0) for c in load_vocabulary().violations}


def test_combine_override_rule_adds_code_with_rule_evidence() -> None:
    engine = load_rule_engine()
    text = "首付分期，轻松上车"
    res = combine(
        text,
        engine.match(text),
        {"violation": 0.2, "financial": 0.6, "other": 0.2},
        {"real_estate_finance": 0.9, "none": 0.1},
        _fake_probs(),
        {},
        engine.config,
    )
    assert res.verdict == "violation"
    assert res.violations == ["real_estate_finance"]
    assert all(e.rule != MODEL_RULE for e in res.evidence)
    assert res.risk_score >= 0.5


def test_combine_model_only_code_gets_whole_text_evidence() -> None:
    engine = load_rule_engine()
    text = "内部渠道，名额有限，速来"
    res = combine(
        text,
        engine.match(text),
        {"violation": 0.8, "financial": 0.1, "other": 0.1},
        {"asset_management": 0.7, "none": 0.3},
        _fake_probs(misleading=0.9),
        {},
        engine.config,
    )
    assert res.violations == ["misleading"]
    assert res.evidence[0].rule == MODEL_RULE
    assert (res.evidence[0].start, res.evidence[0].end) == (0, len(text))
    assert res.sector == "asset_management"


def test_combine_other_verdict_has_no_sector_and_low_risk() -> None:
    engine = load_rule_engine()
    text = "全场最佳口味，欢迎品尝"
    res = combine(
        text,
        engine.match(text),
        {"violation": 0.1, "financial": 0.1, "other": 0.8},
        {"none": 0.9, "banking": 0.1},
        _fake_probs(),
        {},
        engine.config,
    )
    assert (res.verdict, res.sector, res.violations) == ("other", "none", [])
    assert res.risk_score < 0.5


def test_small_model_round_trips_through_joblib(tmp_path) -> None:
    import joblib

    texts, y, _ = _small_data()
    codes = list(load_vocabulary().violations)
    viol = [["guaranteed_return"] if v == "violation" else [] for v in y]
    sectors = ["asset_management" if v != "other" else "none" for v in y]
    model = fit_model(
        prepare(texts),
        y,
        sectors,
        viol,
        codes,
        {"features": {"min_df": 1}, "verdict_head": {"cv": 2, "min_count": 2}},
    )
    model.meta = {"name_version": "model-test"}
    path = tmp_path / "finwatch-model-test.joblib"
    joblib.dump(model, path)
    clf = load_classifier(path)
    assert clf.name_version == "model-test"
    res = clf.classify_many(["保本保息，年化20%，零风险", "今晚吃饭"])
    assert res[0].verdict == "violation" and res[1].verdict == "other"


@pytest.fixture(scope="module")
def shipped() -> ModelClassifier:
    path = newest_artefact()
    if path is None:
        pytest.fail("no model artefact in models/ (run `finwatch train`)")
    clf = load_classifier()
    assert isinstance(clf, ModelClassifier)
    assert isinstance(clf.model, FinwatchModel)
    return clf


def test_shipped_model_loads_and_classifies(shipped: ModelClassifier) -> None:
    vocab = load_vocabulary()
    assert shipped.name_version.startswith("model-")
    text = "城南旺铺售后返租，年化收益率 1 8 %，保-本 零風險！"
    res = shipped.classify_text(text)
    assert res.verdict == "violation"
    assert {"guaranteed_return", "real_estate_finance"} <= set(res.violations)
    for ev in res.evidence:
        assert ev.code in vocab.violations
        assert text[ev.start : ev.end] == ev.text
    assert {e.code for e in res.evidence} == set(res.violations)
    assert shipped.classify_text("今晚一起吃饭吧，老地方见").verdict == "other"
    fin = shipped.classify_text("您尾号7544卡11日ATM支出2,000元，手续费2元。【工商银行】")
    assert fin.verdict == "financial"


def test_shipped_model_batch_matches_single(shipped: ModelClassifier) -> None:
    texts = VIOLATION_TEXTS + FINANCIAL_TEXTS + OTHER_TEXTS
    many = shipped.classify_many(texts)
    for t, r in zip(texts, many, strict=True):
        assert shipped.classify_text(t) == r
        assert 0.0 <= r.risk_score <= 1.0
        json.dumps(r.to_dict(), ensure_ascii=False)


def test_shipped_card_records_data_hash_and_metrics() -> None:
    from nlp.paths import MODELS_DIR

    card = (MODELS_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "sha256" in card and "baseline" in card and "macro-F1" in card
    path = newest_artefact()
    assert path is not None and path.name in card


def test_fast_paths_equal_scikit_learn() -> None:
    texts, y, _ = _small_data()
    prep = prepare(texts + ["", "!!!", "x"])
    feats = TextFeatures(min_df=1).fit(prep)
    X = feats.transform(prep)
    assert abs(X - feats._sklearn_transform(prep)).max() < 1e-6
    head = LinearHead(cv=2, min_count=2).fit(X[: len(y)], np.array(y))
    assert np.allclose(head.predict_proba(X), head._sklearn_proba(X))
    Y = np.array([[int(v == "violation"), int(v == "other")] for v in y])
    multi = LinearHead(cv=2, min_count=2).fit(X[: len(y)], Y)
    assert np.allclose(multi.predict_proba(X), multi._sklearn_proba(X))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(min_size=1, max_size=200))
def test_shipped_model_survives_arbitrary_unicode(shipped: ModelClassifier, text: str) -> None:
    if not text.strip():
        with pytest.raises(ValueError):
            shipped.classify_text(text)
        return
    res = shipped.classify_text(text, title=text[:10])
    assert 0.0 <= res.risk_score <= 1.0
    assert (res.verdict == "violation") == bool(res.violations)
    for ev in res.evidence:
        assert text[ev.start : ev.end] == ev.text


def test_rule_evidence_lowers_the_model_threshold() -> None:
    engine = load_rule_engine()
    probs = {"violation": 0.3, "financial": 0.6, "other": 0.1}
    sectors = {"asset_management": 0.9, "none": 0.1}
    with_rule = "全国第一的理财平台"  # ML-02 fires (misleading, not an override rule)
    without = "口碑很好的理财平台"
    args = ({"misleading": 0.35}, engine.config, {"misleading": 0.2})
    hit = combine(
        with_rule, engine.match(with_rule), probs, sectors, _fake_probs(misleading=0.25), *args
    )
    assert hit.violations == ["misleading"]
    assert hit.evidence[0].rule == "ML-02"
    miss = combine(
        without, engine.match(without), probs, sectors, _fake_probs(misleading=0.25), *args
    )
    assert (miss.verdict, miss.violations) == ("financial", [])
