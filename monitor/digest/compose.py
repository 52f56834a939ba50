"""Rendering a digest: Jinja2 templates to HTML and text, charts inline by Content-ID.

Why autoescape is forced on for .html: alert texts, site names and URLs are crawled from sites
that promote illegal finance; a `<script>` in an ad must reach the unit as text, not markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from monitor import kibana
from monitor.digest import charts
from monitor.digest.query import DigestData
from monitor.digest.week import local_zone

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
CHART_NAMES = ("daily", "sector")

_env = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
)


@dataclass
class RenderedDigest:
    digest_id: str
    subject: str
    html: str  # images referenced as cid:
    preview_html: str  # the same page with images as files next to it
    text: str
    images: dict[str, bytes]
    message: EmailMessage
    total: int


def digest_id(unit: str, week_label: str) -> str:
    return f"{unit}:{week_label}"


def subject(data: DigestData) -> str:
    return (f"【互联网金融风险监测周报】{data.unit_name} {data.week.title_zh}："
            f"新增告警 {data.total} 条")


def change_zh(data: DigestData) -> str:
    if data.previous_total == 0:
        return "上周为 0" if data.total else "与上周持平"
    if data.change == 0:
        return "与上周持平"
    pct = data.change / data.previous_total * 100
    return f"较上周{'增加' if data.change > 0 else '减少'} {abs(data.change)} 条（{pct:+.0f}%）"


def _render(name: str, data: DigestData, images: dict[str, str], link: str) -> str:
    color = "#b3261e" if data.change > 0 else "#2e7d32" if data.change < 0 else "#5b6776"
    return _env.get_template(name).render(
        d=data, images=images, kibana_url=link, subject=subject(data), change_zh=change_zh(data),
        change_color=color, tz=str(local_zone()))


def render(data: DigestData, *, sender: str, recipients: list[str], now: datetime,
           kibana_base: str | None = None) -> RenderedDigest:
    """The complete digest: HTML with a plain-text alternative, charts as related parts."""
    images = {"daily": charts.daily_chart(data.per_day),
              "sector": charts.sector_chart(data.per_sector)}
    did = digest_id(data.unit, data.week.label)
    domain = sender.rpartition("@")[2] or "localhost"
    cids = {name: f"{name}.{data.unit}.{data.week.label}@{domain}" for name in images}
    link = kibana.discover_url(kibana_base or kibana.kibana_base_url(), data.unit,
                               data.week.start, data.week.end)
    html = _render("digest.html", data, {k: f"cid:{v}" for k, v in cids.items()}, link)
    preview = _render("digest.html", data, {k: f"{k}.png" for k in images}, link)
    text = _render("digest.txt", data, {}, link)

    msg = EmailMessage()
    msg["Subject"] = subject(data)
    msg["From"] = sender
    if recipients:
        msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(now.astimezone(local_zone()))
    # Stable per digest, so a re-send after a crash can be recognised as the same message.
    msg["Message-ID"] = f"<finwatch-digest.{data.unit}.{data.week.label}@{domain}>"
    msg["X-Finwatch-Digest"] = did
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_payload()[1]
    for name, png in images.items():
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cids[name]}>",
                              filename=f"{name}.png")
    return RenderedDigest(digest_id=did, subject=subject(data), html=html,
                          preview_html=preview, text=text, images=images, message=msg,
                          total=data.total)
