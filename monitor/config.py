"""Loading and validating finwatch's YAML configuration.

Why: operators edit these files by hand; a typo must produce a message naming the file, the key
and what was expected, and a bad site entry must not take the other sites down with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(os.environ.get("FINWATCH_CONFIG_DIR", REPO_ROOT / "config"))


class ConfigError(ValueError):
    """A configuration file is missing, unparsable or does not match its schema."""


def load_yaml(path: Path) -> Any:
    """Parse one YAML file, turning every failure into a ConfigError that names the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from exc


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def validate(data: Any, schema: dict[str, Any], path: Path) -> None:
    """Raise one ConfigError listing every schema violation as `file: key: problem`."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{path}: {_where(e)}: {e.message}" for e in errors]
        raise ConfigError("\n".join(lines))


@cache
def labels(path: Path = CONFIG_DIR / "labels.yaml") -> dict[str, dict[str, dict[str, str]]]:
    """The label vocabulary (verdicts, sectors, violations), each code with its Chinese name."""
    data = load_yaml(path)
    for key in ("verdicts", "sectors", "violations"):
        if not isinstance(data.get(key), dict):
            raise ConfigError(f"{path}: {key}: expected a mapping of code -> {{zh: ...}}")
    return data


def zh_label(kind: str, code: str) -> str:
    """Chinese display name of a verdict/sector/violation code (the code itself if unknown)."""
    return labels()[kind].get(code, {}).get("zh", code)


SITE_KINDS = ["news_portal", "classifieds", "forum", "platform"]

SCHEDULE_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "object", "required": ["every_minutes"], "additionalProperties": False,
         "properties": {"every_minutes": {"type": "integer", "minimum": 1}}},
        {"type": "object", "required": ["cron"], "additionalProperties": False,
         "properties": {"cron": {"type": "string", "pattern": r"^\S+( \S+){4}$"}}},
    ],
}

_SITE_FIELDS: dict[str, Any] = {
    "schedule": SCHEDULE_SCHEMA,
    "max_pages": {"type": "integer", "minimum": 1},
    "max_depth": {"type": "integer", "minimum": 0},
    # Politeness per site: seconds between requests, and requests in flight at once.
    "download_delay": {"type": "number", "minimum": 0},
    "concurrency": {"type": "integer", "minimum": 1, "maximum": 32},
    "render": {"type": "boolean"},
    "ad_selectors": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "listing_selectors": {"type": "array", "items": {"type": "string", "minLength": 1}},
}

SITE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "kind", "start_urls"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9_]+$"},
        "name": {"type": "string", "minLength": 1},
        "kind": {"enum": SITE_KINDS},
        "start_urls": {
            "type": "array", "minItems": 1,
            "items": {"type": "string", "pattern": "^https?://[^/\\s]+"},
        },
        "allowed_domains": {"type": "array", "items": {"type": "string"}},
        **_SITE_FIELDS,
    },
}

SITES_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "sites"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": 1},
        "defaults": {"type": "object", "additionalProperties": False, "properties": _SITE_FIELDS},
        "sites": {"type": "array", "items": {"type": "object"}},
    },
}


@dataclass(frozen=True)
class SiteConfig:
    """One watched site, defaults already applied."""

    id: str
    name: str
    kind: str
    start_urls: tuple[str, ...]
    max_pages: int = 200
    max_depth: int = 3
    render: bool = False
    ad_selectors: tuple[str, ...] = ()
    listing_selectors: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = field(default=())
    download_delay: float = 0.0
    concurrency: int = 4
    # {"every_minutes": N} or {"cron": "m h dom mon dow"}: when `finwatch serve` crawls the site.
    schedule: dict[str, Any] = field(default_factory=lambda: {"every_minutes": 360})

    @property
    def domains(self) -> tuple[str, ...]:
        """Hosts the crawl may follow links to: given, or those of the start URLs."""
        if self.allowed_domains:
            return self.allowed_domains
        return tuple(dict.fromkeys(urlsplit(u).hostname or "" for u in self.start_urls))


@dataclass(frozen=True)
class SitesFile:
    """A parsed sites file: the valid sites, and one message per entry that was disabled."""

    sites: tuple[SiteConfig, ...]
    errors: tuple[str, ...]


def load_sites(path: Path | str = CONFIG_DIR / "sites.yaml") -> SitesFile:
    """Read a sites file; an invalid entry is disabled with an error, the others still load."""
    path = Path(path)
    data = load_yaml(path)
    validate(data, SITES_FILE_SCHEMA, path)
    defaults = data.get("defaults") or {}
    sites: list[SiteConfig] = []
    errors: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["sites"]):
        label = f"sites.{index}" + (f" ({entry.get('id')})" if isinstance(entry, dict) else "")
        problems = sorted(jsonschema.Draft202012Validator(SITE_SCHEMA).iter_errors(entry),
                          key=lambda e: list(e.absolute_path))
        if problems:
            errors.extend(f"{path}: {label}.{_where(p)}: {p.message}; site disabled"
                          for p in problems)
            continue
        if entry["id"] in seen:
            errors.append(f"{path}: {label}.id: duplicate site id {entry['id']!r}; site disabled")
            continue
        seen.add(entry["id"])
        merged = {**defaults, **entry}
        sites.append(SiteConfig(
            id=merged["id"], name=merged["name"], kind=merged["kind"],
            start_urls=tuple(merged["start_urls"]),
            max_pages=merged.get("max_pages", 200), max_depth=merged.get("max_depth", 3),
            render=merged.get("render", False),
            ad_selectors=tuple(merged.get("ad_selectors", ())),
            listing_selectors=tuple(merged.get("listing_selectors", ())),
            allowed_domains=tuple(merged.get("allowed_domains", ())),
            schedule=dict(merged.get("schedule") or {"every_minutes": 360}),
            download_delay=float(merged.get("download_delay", 0.0)),
            concurrency=int(merged.get("concurrency", 4)),
        ))
    return SitesFile(sites=tuple(sites), errors=tuple(errors))
