"""Where config, models and the shared data live; one place so tests and CI can override them."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "config"
MODELS_DIR = REPO_ROOT / "models"


def data_dir() -> Path:
    """The shared data folder: env FINWATCH_DATA_DIR, else <repo>/../shared/data (also in CI)."""
    env = os.environ.get("FINWATCH_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def labeled_path() -> Path:
    """The hand-labelled training set (see the data README)."""
    return data_dir() / "labeled" / "train.jsonl"


def sms_path() -> Path:
    """The raw spam/ham SMS corpus, used only as weak, unsupervised signal."""
    return data_dir() / "raw" / "sms" / "sms_spam_ham.tsv"
