"""Every rule in config/rules.yaml has an example here, so deleting a rule fails a test."""

from __future__ import annotations

import pytest

from nlp.rules import load_rule_engine, trie_regex
from nlp.rules_config import load_rules_config
from nlp.vocab import load_vocabulary

# (rule id, text that only this kind of claim makes a violation, the code it evidences)
RULE_EXAMPLES = [
    ("GR-01", "银行理财产品，保本保息，零风险，欢迎咨询", "guaranteed_return"),
    ("GR-02", "东兴推出稳定收益产品，固定回报，欢迎来电", "guaranteed_return"),
    ("GR-03", "今带学员建仓300223北京君正，明日必涨停，勿追！", "guaranteed_return"),
    ("HY-01", "好项目零门槛高回报，一年宝马开回家", "high_yield"),
    ("HY-02", "新手专享理财，年化收益率18%，随存随取", "high_yield"),
    ("HY-03", "贷给你的钱月息2分，投资即享每月分红", "high_yield"),
    ("IF-01", "发展下线可得推荐返利，会员入股年年分红", "illegal_fundraising"),
    ("UL-01", "无抵押无担保，当天放款，黑户可贷", "unlicensed_lending"),
    ("UL-02", "专业信用卡套现代还提额，手续费低", "unlicensed_lending"),
    ("UL-03", "股票配资，5-10倍杠杆，放大10倍", "unlicensed_lending"),
    ("UL-04", "急需贷款请联系，快速审批，王经理138****1234", "unlicensed_lending"),
    ("RE-01", "首付分期，首付贷轻松上车，众筹买房", "real_estate_finance"),
    ("RE-02", "临街旺铺售后返租，包租十年，回购保障", "real_estate_finance"),
    ("RE-03", "市中心商铺，投资升值空间大", "real_estate_finance"),
    ("ML-01", "国资背景，银行存管，安全可靠的理财平台", "misleading"),
    ("ML-02", "全国第一的理财平台，史上最低利率", "misleading"),
    ("ML-03", "我处和建行合作，内部消息，贷款当天到账", "misleading"),
    ("CF-01", "原始股内部认购，明股实债，保证上市", "crowdfunding_violation"),
    ("PR-01", "免费领POS机，一清机，信用卡刷卡套现秒到", "payment_risk"),
]


def test_every_rule_has_an_example_and_every_code_a_rule() -> None:
    config = load_rules_config()
    assert {r.id for r in config.rules} == {rid for rid, _, _ in RULE_EXAMPLES}
    assert {r.code for r in config.rules} == set(load_vocabulary().violations)


@pytest.mark.parametrize(("rule_id", "text", "code"), RULE_EXAMPLES)
def test_rule_fires_with_evidence(rule_id: str, text: str, code: str) -> None:
    match = load_rule_engine().match(text)
    ev = [e for e in match.evidence(text) if e.rule == rule_id]
    assert ev, f"{rule_id} did not fire on {text!r}"
    for e in ev:
        assert e.code == code
        assert text[e.start : e.end] == e.text


@pytest.mark.parametrize(
    "text",
    [
        "今天天气很好，晚上一起吃饭吧",
        "您尾号7544卡11日ATM支出2,000元。【工商银行】",
        "非保本浮动收益理财，年化收益3.7%，投资需谨慎",
        "警方破获一起非法集资案",
    ],
)
def test_benign_texts_raise_no_guarantee_or_yield(text: str) -> None:
    codes = load_rule_engine().match(text).codes
    assert "guaranteed_return" not in codes
    assert "high_yield" not in codes
    assert "illegal_fundraising" not in codes


def test_yield_threshold_is_eight_percent() -> None:
    engine = load_rule_engine()
    assert "high_yield" in engine.match("年化收益率8.5%").codes
    assert "high_yield" not in engine.match("年化收益率4.5%").codes


def test_evasions_still_match_and_map_to_original() -> None:
    text = "保-本 理 財，無 抵 押 貸 款"
    ev = load_rule_engine().match(text).evidence(text)
    by_rule = {e.rule: e for e in ev}
    assert by_rule["GR-01"].text == "保-本"
    assert by_rule["UL-01"].text == "無 抵 押"


def test_trie_regex_prefers_longest() -> None:
    import re

    pat = re.compile(trie_regex(["稳赚", "稳赚不赔", "保本"]))
    assert [m.group(0) for m in pat.finditer("稳赚不赔保本")] == ["稳赚不赔", "保本"]


def test_prohibition_notices_do_not_fire() -> None:
    engine = load_rule_engine()
    notice = "本站禁止发布信用卡套现、无资质放贷、非法集资等违法信息，一经发现立即删除。"
    assert engine.match(notice).codes == []
    warning = "区金融办提醒：警惕承诺保本高收益的投资，"
    assert engine.match(warning).codes == []
    # the negation is clause-bound: the ad after the comma still fires
    mixed = "警惕非法平台，我们保本保息"
    assert engine.match(mixed).codes == ["guaranteed_return"]


def test_fixed_income_category_is_not_a_promise() -> None:
    engine = load_rule_engine()
    assert "guaranteed_return" not in engine.match("提供私募基金、固定收益类产品等理财服务").codes
    assert "guaranteed_return" in engine.match("本产品固定收益，按月付息").codes
