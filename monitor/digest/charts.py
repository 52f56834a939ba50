"""The digest's two charts as PNG bytes (matplotlib, Agg, no display, no pyplot state).

Why a CJK font file: matplotlib's bundled DejaVu has no Han glyphs; without one the sector names
would be boxes. Debian's fonts-wqy-microhei (installed by scripts/bootstrap.sh and the
Dockerfile) or Noto CJK is used when present; $FINWATCH_CJK_FONT overrides.
"""

from __future__ import annotations

import io
import logging
import os
from datetime import date
from functools import cache
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from monitor.digest.week import WEEKDAYS_ZH

log = logging.getLogger(__name__)

CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
BAR = "#1f5fa8"
GRID = "#d9dee5"


@cache
def cjk_font() -> FontProperties | None:
    """The first CJK font file found, or None (charts then lack Han glyphs; logged once)."""
    candidates = [os.environ.get("FINWATCH_CJK_FONT", ""), *CJK_FONTS]
    for path in candidates:
        if path and Path(path).is_file():
            return FontProperties(fname=path)
    log.warning("no CJK font found (tried %s): chart labels will lack Chinese glyphs",
                ", ".join(p for p in candidates if p))
    return None


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _style(ax, font: FontProperties | None) -> None:  # type: ignore[no-untyped-def]
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(length=0)
    for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        if font is not None:
            label.set_fontproperties(font)
        label.set_fontsize(9)


def daily_chart(per_day: list[tuple[date, int]]) -> bytes:
    """New alerts per day of the week, Monday first."""
    font = cjk_font()
    fig = Figure(figsize=(6.4, 2.4), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    labels = [f"{d.month}/{d.day}\n{WEEKDAYS_ZH[d.weekday()]}" for d, _ in per_day]
    counts = [n for _, n in per_day]
    bars = ax.bar(range(len(counts)), counts, color=BAR, width=0.6)
    ax.bar_label(bars, labels=[str(n) if n else "" for n in counts], fontsize=9, padding=2)
    ax.set_xticks(range(len(counts)), labels)
    ax.set_ylim(0, max([*counts, 1]) * 1.25)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    _style(ax, font)
    return _png(fig)


def sector_chart(per_sector: list[tuple[str, int]]) -> bytes:
    """New alerts per business line (sector), largest on top."""
    font = cjk_font()
    items = sorted(per_sector, key=lambda kv: kv[1])[-8:] or [("无", 0)]
    fig = Figure(figsize=(6.4, 0.5 + 0.34 * len(items)), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(range(len(items)), [n for _, n in items], color=BAR, height=0.6)
    ax.bar_label(bars, fontsize=9, padding=3)
    ax.set_yticks(range(len(items)), [name for name, _ in items])
    ax.set_xlim(0, max([n for _, n in items] + [1]) * 1.2)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    _style(ax, font)
    return _png(fig)
