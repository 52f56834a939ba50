"""The public classifier API and the batch contract, rules-only (no model needed)."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.batch import classify_stream
from nlp.classifier import RuleClassifier, load_classifier
from nlp.result import ClassificationResult, EmptyTextError, InvalidTextError
from nlp.vocab import load_vocabulary

VOCAB = load_vocabulary()


@pytest.fixture(scope="module")
def rules() -> RuleClassifier:
    return RuleClassifier()


def test_violation_with_evidence_in_original_offsets(rules: RuleClassifier) -> None:
    text = "城南旺铺，售后返租，年化收益率 1 8 %，保-本 零风险！王经理"
    res = rules.classify_text(text)
    assert isinstance(res, ClassificationResult)
    assert res.verdict == "violation"
    assert {"real_estate_finance", "guaranteed_return", "high_yield"} <= set(res.violations)
    assert 0.0 < res.risk_score <= 1.0
    for ev in res.evidence:
        assert ev.code in VOCAB.violations
        assert text[ev.start : ev.end] == ev.text
    assert {e.code for e in res.evidence} == set(res.violations)


def test_other_and_financial(rules: RuleClassifier) -> None:
    other = rules.classify_text("今晚一起吃饭吧，老地方见")
    assert (other.verdict, other.sector, other.violations) == ("other", "none", [])
    fin = rules.classify_text("您尾号7544的储蓄卡账户存入2000元，余额5000元【工商银行】")
    assert fin.verdict == "financial"
    assert fin.sector == "banking"
    assert fin.violations == []


def test_labels_come_from_vocabulary(rules: RuleClassifier) -> None:
    res = rules.classify_text("无抵押信用贷款，当天放款")
    assert res.verdict in VOCAB.verdicts
    assert res.sector in VOCAB.sectors
    assert set(res.violations) <= set(VOCAB.violations)
    d = res.to_dict()
    assert set(d) == {"verdict", "sector", "violations", "risk_score", "evidence"}
    assert set(d["evidence"][0]) == {"code", "start", "end", "text", "rule"}


def test_empty_and_non_string_raise_value_errors(rules: RuleClassifier) -> None:
    with pytest.raises(EmptyTextError):
        rules.classify_text("   ")
    with pytest.raises(ValueError):
        rules.classify_text("")
    with pytest.raises(InvalidTextError):
        rules.classify_text(None)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), min_size=1))
def test_arbitrary_unicode_never_crashes(text: str) -> None:
    clf = RuleClassifier()
    if not text.strip():
        with pytest.raises(ValueError):
            clf.classify_text(text)
        return
    res = clf.classify_text(text)
    assert 0.0 <= res.risk_score <= 1.0
    for ev in res.evidence:
        assert text[ev.start : ev.end] == ev.text


def test_load_classifier_without_models_uses_rules(tmp_path, monkeypatch) -> None:
    import nlp.classifier as mod

    monkeypatch.setattr(mod, "MODELS_DIR", tmp_path)
    monkeypatch.setattr(mod.newest_artefact, "__defaults__", (tmp_path,))
    clf = load_classifier()
    assert clf.name_version.startswith("rules-")
    assert clf.classify_text("保本保息").violations == ["guaranteed_return"]


def test_batch_contract_errors_per_line(rules: RuleClassifier) -> None:
    lines = [
        {"id": "1", "text": "保本理财，年化18%", "url": "http://a"},
        {"id": "2", "text": ""},
        {"id": "3"},
        {"id": "4", "text": 42},
        {"id": "5", "text": "晚上吃饭", "title": "闲聊"},
    ]
    src = io.StringIO("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\nnot json\n")
    dst = io.StringIO()
    stats = classify_stream(rules, src, dst)
    out = [json.loads(x) for x in dst.getvalue().splitlines()]
    assert len(out) == 6
    assert (stats.classified, stats.errors) == (2, 4)
    assert out[0]["id"] == "1" and out[0]["url"] == "http://a"
    assert out[0]["verdict"] == "violation" and "guaranteed_return" in out[0]["violations"]
    assert all("error" in out[i] and "verdict" not in out[i] for i in (1, 2, 3, 5))
    assert out[1]["id"] == "2"
    assert out[4]["verdict"] == "other" and out[4]["title"] == "闲聊"


def test_batch_survives_lone_surrogates(rules: RuleClassifier, tmp_path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "s", "text": "保本\\ud800理财"}\n{"id": "t", "text": "晚安"}\n')
    out_path = tmp_path / "out.jsonl"
    with src.open(encoding="utf-8") as fin, out_path.open("w", encoding="utf-8") as fout:
        stats = classify_stream(rules, fin, fout)
    out = [json.loads(x) for x in out_path.read_text(encoding="utf-8").splitlines()]
    assert stats.classified == 2
    assert out[0]["violations"] == ["guaranteed_return"]
    assert out[1]["verdict"] == "other"


def test_cli_classify_file_with_bad_bytes(tmp_path) -> None:
    from nlp.cli import main

    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "a", "text": "\xff' + "保本理财".encode() + b'"}\n{"id": "b"}\n')
    dst = tmp_path / "out.jsonl"
    assert main(["classify", "--rules-only", "--input", str(src), "--output", str(dst)]) == 0
    out = [json.loads(x) for x in dst.read_text(encoding="utf-8").splitlines()]
    assert out[0]["violations"] == ["guaranteed_return"]
    assert "error" in out[1]
