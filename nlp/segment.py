"""Word segmentation for the model and for the whitespace-analysed Elasticsearch field.

Uses a private jieba Tokenizer (so other code's jieba state is untouched) loaded with the finance
user dictionary in config/finance_userdict.txt, over the normalised text. HMM is off: it is
slower and invents words from noise; the user dictionary covers the domain terms.

`segment_normalized` runs jieba's own no-HMM algorithm (prefix DAG + max-probability route)
fused into one loop over a precomputed log-probability table: same words as
`Tokenizer.lcut(text, HMM=False)` (a test checks this) at about twice the speed, because
segmentation was the slowest step of classification.
"""

from __future__ import annotations

import logging
import math
import re
import threading

import jieba

from nlp.normalize import normalize
from nlp.paths import CONFIG_DIR

USERDICT = CONFIG_DIR / "finance_userdict.txt"
_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None
_logp: dict[str, float | None] | None = None
# jieba's own block and word-character patterns (jieba.re_han_default, jieba.re_eng)
_RE_HAN = re.compile(r"([\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-]+)")
_RE_ENG1 = re.compile(r"[a-zA-Z0-9]")
_WORDCHAR = re.compile(r"[^\W_]")


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


def _table() -> dict[str, float | None]:
    """word -> log P(word) (jieba's log(freq) - log(total)); dictionary prefixes -> None."""
    global _logp
    if _logp is None:
        tok = get_tokenizer()
        logtotal = math.log(tok.total)
        _logp = {w: (math.log(f) - logtotal if f else None) for w, f in tok.FREQ.items()}
    return _logp


def _cut_block(s: str, table: dict[str, float | None], unknown: float) -> list[str]:
    """jieba's __cut_DAG_NO_HMM for one block, DAG and route computed in one backward pass."""
    n = len(s)
    score = [0.0] * (n + 1)
    nxt = [0] * n
    get = table.get
    for idx in range(n - 1, -1, -1):
        best = -math.inf
        bx = -1
        i = idx
        frag = s[idx]
        while i < n:
            lp = get(frag, 0)
            if lp == 0:
                break
            if lp is not None:
                sc = lp + score[i + 1]
                if sc >= best:
                    best, bx = sc, i
            i += 1
            frag = s[idx : i + 1]
        if bx < 0:
            lp = get(s[idx])
            best, bx = (lp if lp is not None else unknown) + score[idx + 1], idx
        score[idx] = best
        nxt[idx] = bx + 1
    out: list[str] = []
    buf = ""
    x = 0
    while x < n:
        y = nxt[x]
        word = s[x:y]
        if y - x == 1 and _RE_ENG1.match(word):
            buf += word
        else:
            if buf:
                out.append(buf)
                buf = ""
            out.append(word)
        x = y
    if buf:
        out.append(buf)
    return out


def segment_normalized(norm_text: str) -> list[str]:
    """Words of already-normalised text (jieba, no HMM), punctuation-only tokens dropped."""
    table = _table()
    unknown = -math.log(get_tokenizer().total)
    words: list[str] = []
    for blk in _RE_HAN.split(norm_text):
        if not blk:
            continue
        if _RE_HAN.match(blk):
            words.extend(w for w in _cut_block(blk, table, unknown) if _WORDCHAR.search(w))
        else:
            words.extend(c for c in blk if _WORDCHAR.match(c))
    return words


def segment_words(text: str) -> list[str]:
    """Words of `text` after normalisation (so 理 财 and 理财 index the same)."""
    return segment_normalized(normalize(text))
