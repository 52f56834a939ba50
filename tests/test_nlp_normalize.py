"""Normalisation: evasions collapse to their meaning and offsets map back to the original."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nlp.normalize import normalize, normalize_with_map
from nlp.segment import segment_words


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("理 财", "理财"),
        ("理\u3000财", "理财"),
        ("網貸", "网贷"),
        ("Ｐ２Ｐ", "p2p"),
        ("保-本", "保本"),
        ("保—本", "保本"),
        ("保.本 保_息", "保本保息"),
        ("無 抵 扌甲 貸款", "无抵押贷款"),
        ("年化１８％", "年化18%"),
        ("理\u200b财", "理财"),
        ("信用岱歀", "信用贷款"),
        ("理\ud800财", "理\ud800财"),  # a lone surrogate must not crash OpenCC
    ],
)
def test_evasions_normalise_to_meaning(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_masked_digits_become_hash() -> None:
    assert normalize("133****8923") == "133####8923"
    assert normalize("年化x.xx%") == "年化#.##%"
    assert normalize("max") == "max"  # an English word is not a masked number


def test_punctuation_between_clauses_is_kept() -> None:
    assert normalize("低息，快捷") == "低息,快捷"
    assert normalize("4.7%") == "4.7%"


def test_offsets_map_back_to_original_characters() -> None:
    raw = "投资 保-本 理財"
    norm = normalize_with_map(raw)
    i = norm.text.index("保本")
    s, e = norm.span(i, i + 2)
    assert raw[s:e] == "保-本"
    j = norm.text.index("理财")
    s, e = norm.span(j, j + 2)
    assert raw[s:e] == "理財"


def test_segment_uses_finance_userdict() -> None:
    words = segment_words("無抵押 信用贷款，年化收益率 18%")
    assert "无抵押" in words
    assert "年化收益率" in words
    assert all(w.strip() for w in words)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_unicode_normalises_with_consistent_map(raw: str) -> None:
    norm = normalize_with_map(raw)
    assert len(norm.starts) == len(norm.ends) == len(norm.text)
    for s, e in zip(norm.starts, norm.ends, strict=True):
        assert 0 <= s < e <= len(raw)


def test_fast_segmenter_matches_jieba() -> None:
    from nlp.segment import _WORDCHAR, get_tokenizer, segment_normalized

    tok = get_tokenizer()
    for raw in [
        "无抵押信用贷款，年化收益率18%，p2p网贷平台qq12345，abc测试",
        "今带学员建仓300223北京君正，明日必涨停!咨询4006332798【鸿大理财】",
        "我怎么了，总是忍不住想你，就像鸟儿忍不住飞翔",
    ]:
        text = normalize(raw)
        expected = [w for w in tok.lcut(text, HMM=False) if _WORDCHAR.search(w)]
        assert segment_normalized(text) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("理财保本網貸ＰP２2 \u3000-_.*x#a扌甲\u200b㎡，!"))
        | st.characters()
    )
)
@example("¨\xad")  # NFKC widens ¨ while the soft hyphen vanishes: same length, not 1:1
def test_fast_path_equals_general_path(raw: str) -> None:
    from nlp.normalize import _normalize_general, _simplified

    assert normalize_with_map(raw) == _normalize_general(_simplified(raw))
