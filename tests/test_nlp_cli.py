"""`train`, `evaluate` and `classify` end to end on a tiny labelled file (fast; no SMS)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from nlp.cli import main, register
from nlp.paths import data_dir, labeled_path

ROWS = [
    ("保本保息理财，年化收益18%，零风险{}", "violation", "asset_management", ["guaranteed_return"]),
    ("无抵押无担保贷款，当天放款，王经理{}", "violation", "lending", ["unlicensed_lending"]),
    ("您尾号{}的储蓄卡账户存入2000元【工商银行】", "financial", "banking", []),
    ("基金有风险，投资需谨慎，详见官网公告{}", "financial", "asset_management", []),
    ("今晚一起吃饭吧，老地方见{}", "other", "none", []),
    ("周末商场大促，全场五折起{}", "other", "none", []),
]


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for k in range(8):
            for i, (text, verdict, sector, codes) in enumerate(ROWS):
                row = {
                    "id": f"t{k}-{i}",
                    "text": text.format(k * 7),
                    "verdict": verdict,
                    "sector": sector,
                    "violations": codes,
                }
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def test_register_adds_three_subcommands() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    for cmd in ("train", "evaluate", "classify"):
        args = parser.parse_args(
            [cmd, "--input", "x.jsonl"] + (["--output", "-"] if cmd == "classify" else [])
        )
        assert callable(args.func)


def test_train_then_classify_with_the_artefact(tiny: Path, tmp_path: Path, capsys) -> None:
    models = tmp_path / "models"
    assert (
        main(
            ["train", "--input", str(tiny), "--models-dir", str(models), "--no-sms", "--folds", "2"]
        )
        == 0
    )
    artefacts = list(models.glob("finwatch-model-*.joblib"))
    assert len(artefacts) == 1
    card = (models / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert artefacts[0].name in card and "sha256" in card and "baseline" in card
    report = capsys.readouterr().out
    assert "verdict macro-F1" in report and "baseline" in report
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"id": "x", "text": "保本保息，零风险"}\n{"id": "y", "text": " "}\n', encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    assert (
        main(["classify", "--input", str(src), "--output", str(out), "--model", str(artefacts[0])])
        == 0
    )
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["verdict"] == "violation" and "guaranteed_return" in lines[0]["violations"]
    assert lines[1]["error"] == "text is empty"
    assert main(["evaluate", "--input", str(tiny), "--model", str(artefacts[0])]) == 0
    assert "violation recall" in capsys.readouterr().out


def test_data_dir_is_overridable(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FINWATCH_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    assert labeled_path() == tmp_path / "labeled" / "train.jsonl"
