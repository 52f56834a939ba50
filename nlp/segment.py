"""Word segmentation for the model and for the whitespace-analysed Elasticsearch field.

Uses a private jieba Tokenizer (so other code's jieba state is untouched) loaded with the finance
user dictionary in config/finance_userdict.txt, over the normalised text. HMM is off: it is
slower and invents words from noise; the user dictionary covers the domain terms.
"""

from __future__ import annotations

import logging
import threading
import unicodedata

import jieba

from nlp.normalize import normalize
from nlp.paths import CONFIG_DIR

USERDICT = CONFIG_DIR / "finance_userdict.txt"
_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def get_tokenizer() -> jieba.Tokenizer:
    """The shared finance tokenizer, initialised once (jieba's init takes about a second)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                if USERDICT.exists():
                    tok.load_userdict(str(USERDICT))
                _tokenizer = tok
    return _tokenizer


def _is_word(token: str) -> bool:
    return any(unicodedata.category(c)[0] in "LN" for c in token)


def segment_normalized(norm_text: str) -> list[str]:
    """Words of already-normalised text, punctuation-only tokens dropped."""
    return [w for w in get_tokenizer().lcut(norm_text, HMM=False) if _is_word(w)]


def segment_words(text: str) -> list[str]:
    """Words of `text` after normalisation (so 理 财 and 理财 index the same)."""
    return segment_normalized(normalize(text))
