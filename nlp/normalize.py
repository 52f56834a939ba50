"""Meaning-preserving canonical form of Chinese ad text, with a map back to the original offsets.

Why: promoters dodge keyword filters with 理 财, 網貸, Ｐ２Ｐ, 保-本, masked digits. Rules and the
model see the canonical form; evidence offsets are mapped back so `text[start:end]` shows the
original characters. Steps: OpenCC traditional->simplified (a kept library, not a hand table),
NFKC (full-width -> half-width) and lower case, a few split-character variants from
config/rules.yaml (扌甲 -> 押), whitespace dropped, separator noise between CJK characters
dropped, masked digits (x, *) inside number runs -> '#'.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import opencc

from nlp.rules_config import load_rules_config

_T2S = opencc.OpenCC("t2s")

# Separator characters dropped when they sit between two CJK characters (保-本, 理.财, 理_财).
_SEPARATORS = frozenset("-_*·•.|/\\~^+=#`—–―－丶ˉ‧∙⋅・")
# A run that may hold masked digits: digits, x and * (133****8923, x.xx%, xxxxxxxxxxx).
_MASK_RUN = re.compile(r"(?<![a-wyz])[0-9x*#](?:[0-9x*#.,]*[0-9x*#])?(?![a-wyz])")


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FFFF


@lru_cache(maxsize=65536)
def _char_form(ch: str) -> str:
    """NFKC + lower case of one character; format characters (zero-width etc.) vanish."""
    if unicodedata.category(ch) == "Cf":
        return ""
    return unicodedata.normalize("NFKC", ch).lower()


@dataclass(frozen=True)
class Normalized:
    """Canonical text plus, per canonical character, the original [start, end) it came from."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original offsets of the canonical span [start, end)."""
        if end <= start:
            pos = (
                self.starts[start]
                if start < len(self.starts)
                else (self.ends[-1] if self.ends else 0)
            )
            return pos, pos
        return self.starts[start], self.ends[end - 1]


def _convert_char(ch: str) -> str:
    if "\ud800" <= ch <= "\udfff":  # a lone surrogate cannot be encoded for OpenCC: keep it
        return ch
    c = _T2S.convert(ch)
    return c if len(c) == 1 else ch


def _simplified(text: str) -> str:
    try:
        conv = _T2S.convert(text)
    except UnicodeEncodeError:
        conv = ""
    if len(conv) == len(text):
        return conv
    # OpenCC changed the length (a phrase mapping) or could not encode the text: convert char
    # by char so offsets stay aligned.
    return "".join(_convert_char(ch) for ch in text)


_FORMS: dict[str, str] = {}
_CJK_CLASS = "\u3400-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_SEP_CLASS = "".join(re.escape(c) for c in sorted(_SEPARATORS))
# The same noise _drop_noise removes, as one regex: separator/space runs between CJK, any space.
_NOISE = re.compile(f"(?<=[{_CJK_CLASS}])[\\s{_SEP_CLASS}]+(?=[{_CJK_CLASS}])|\\s+")


_ODD: set[str] = set()  # characters whose form is not exactly one character (¨ -> " ̈", ZWSP -> "")


def _form(ch: str) -> str:
    form = _char_form(ch)
    if len(form) != 1:
        _ODD.add(ch)
    elif len(_FORMS) < 100_000:
        _FORMS[ch] = form
    return form


def normalize_with_map(text: str) -> Normalized:
    """Normalise `text` and keep, for every output character, its original span.

    Fast path (nearly every text): each character maps to exactly one character and no
    split-character variant occurs, so the noise can be cut with one regex and offsets are
    ranges. Anything else takes the general per-character path; a test checks both agree.
    """
    simp = _simplified(text)
    forms = _FORMS
    mapped = "".join([forms[c] if c in forms else _form(c) for c in simp])
    _, variant_re = _variant_table()
    if (
        len(mapped) != len(simp)
        or not _ODD.isdisjoint(simp)
        or (variant_re is not None and variant_re.search(mapped))
    ):
        return _normalize_general(simp)
    pieces: list[str] = []
    starts: list[int] = []
    pos = 0
    for m in _NOISE.finditer(mapped):
        a, b = m.span()
        pieces.append(mapped[pos:a])
        starts.extend(range(pos, a))
        pos = b
    if pos == 0:
        out = mapped
        starts_t = tuple(range(len(mapped)))
    else:
        pieces.append(mapped[pos:])
        starts.extend(range(pos, len(mapped)))
        out = "".join(pieces)
        starts_t = tuple(starts)
    if "x" in out or "*" in out:
        out = _MASK_RUN.sub(_mask, out)
    return Normalized(out, starts_t, tuple([s + 1 for s in starts_t]))


def _normalize_general(simp: str) -> Normalized:
    """Per-character path: forms of any length, variants, then noise removal."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(simp):
        form = _char_form(ch)
        for f in form:
            chars.append(f)
            starts.append(i)
            ends.append(i + 1)
    chars, starts, ends = _apply_variants(chars, starts, ends)
    chars, starts, ends = _drop_noise(chars, starts, ends)
    out = "".join(chars)
    if "x" in out or "*" in out:
        out = _MASK_RUN.sub(_mask, out)
    return Normalized(out, tuple(starts), tuple(ends))


def _mask(m: re.Match[str]) -> str:
    run = m.group(0)
    masked = sum(run.count(c) for c in "x*")
    digits = sum(c.isdigit() for c in run)
    if masked and (digits or masked >= 2 or "." in run):
        return run.replace("x", "#").replace("*", "#")
    return run


def _apply_variants(
    chars: list[str], starts: list[int], ends: list[int]
) -> tuple[list[str], list[int], list[int]]:
    variants, pattern = _variant_table()
    if pattern is None:
        return chars, starts, ends
    joined = "".join(chars)
    if pattern.search(joined) is None:
        return chars, starts, ends
    out_c: list[str] = []
    out_s: list[int] = []
    out_e: list[int] = []
    pos = 0
    for m in pattern.finditer(joined):
        a, b = m.span()
        out_c += chars[pos:a]
        out_s += starts[pos:a]
        out_e += ends[pos:a]
        for ch in variants[m.group(0)]:
            out_c.append(ch)
            out_s.append(starts[a])
            out_e.append(ends[b - 1])
        pos = b
    out_c += chars[pos:]
    out_s += starts[pos:]
    out_e += ends[pos:]
    return out_c, out_s, out_e


@lru_cache(maxsize=1)
def _variant_table() -> tuple[dict[str, str], re.Pattern[str] | None]:
    variants = {
        "".join(_char_form(c) for c in _simplified(k)): v
        for k, v in load_rules_config().variants.items()
    }
    if not variants:
        return {}, None
    keys = sorted(variants, key=len, reverse=True)
    return variants, re.compile("|".join(re.escape(k) for k in keys))


def _drop_noise(
    chars: list[str], starts: list[int], ends: list[int]
) -> tuple[list[str], list[int], list[int]]:
    """Drop whitespace everywhere and separators that sit between CJK characters."""
    n = len(chars)
    keep = [True] * n
    for i, ch in enumerate(chars):
        if ch.isspace():
            keep[i] = False
    for i, ch in enumerate(chars):
        if ch in _SEPARATORS and keep[i]:
            j = i - 1
            while j >= 0 and (not keep[j] or chars[j] in _SEPARATORS):
                j -= 1
            k = i + 1
            while k < n and (not keep[k] or chars[k] in _SEPARATORS):
                k += 1
            if j >= 0 and k < n and _is_cjk(chars[j]) and _is_cjk(chars[k]):
                keep[i] = False
    if all(keep):
        return chars, starts, ends
    idx = [i for i in range(n) if keep[i]]
    return [chars[i] for i in idx], [starts[i] for i in idx], [ends[i] for i in idx]


def normalize(text: str) -> str:
    """Meaning-preserving canonical form: 理 财 -> 理财, 網貸 -> 网贷, Ｐ２Ｐ -> p2p, 保-本 -> 保本.

    One string in, one string out; use `normalize_with_map` when offsets matter."""
    return normalize_with_map(text).text
