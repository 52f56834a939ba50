"""Which district units receive an alert: the plan's division of duties, read from config."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.config import CONFIG_DIR, ConfigError, load_yaml, validate

_CODE_LIST: dict[str, Any] = {"type": "array", "items": {"type": "string"}}

UNITS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "units", "routes"],
    "properties": {
        "version": {"const": 1},
        "units": {
            "type": "object", "minProperties": 1,
            "additionalProperties": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"},
                               "emails": {"type": "array", "items": {"type": "string"}}},
            },
        },
        "routes": {
            "type": "object", "required": ["by_sector"], "additionalProperties": False,
            "properties": {
                "by_sector": {"type": "object", "additionalProperties": _CODE_LIST},
                "always": _CODE_LIST,
                "by_violation": {"type": "object", "additionalProperties": _CODE_LIST},
            },
        },
    },
}


@dataclass(frozen=True)
class Router:
    """Maps (sector, violations) to unit codes, lead unit first, without duplicates."""

    unit_names: dict[str, str]
    by_sector: dict[str, list[str]]
    always: list[str]
    by_violation: dict[str, list[str]]
    unit_emails: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path = CONFIG_DIR / "units.yaml") -> Router:
        data = load_yaml(path)
        validate(data, UNITS_SCHEMA, path)
        routes = data["routes"]
        router = cls(
            unit_names={code: unit["name"] for code, unit in data["units"].items()},
            by_sector=routes["by_sector"],
            always=routes.get("always", []),
            by_violation=routes.get("by_violation", {}),
            unit_emails={code: list(unit.get("emails", []))
                         for code, unit in data["units"].items()},
        )
        unknown = sorted({code for codes in [*router.by_sector.values(), router.always,
                                              *router.by_violation.values()] for code in codes}
                         - set(router.unit_names))
        if unknown:
            raise ConfigError(f"{path}: routes: unknown unit code(s) {', '.join(unknown)}")
        return router

    def route(self, sector: str, violations: list[str]) -> list[str]:
        codes = list(self.by_sector.get(sector, self.by_sector.get("none", [])))
        codes += self.always
        for violation in violations:
            codes += self.by_violation.get(violation, [])
        return list(dict.fromkeys(codes))

    def recipients(self, code: str) -> list[str]:
        """A unit's digest recipients: $FINWATCH_UNIT_<CODE>_EMAILS (comma-separated) when set,
        else `emails` in units.yaml, so real addresses can stay out of the repository."""
        env = os.environ.get(f"FINWATCH_UNIT_{code.upper()}_EMAILS")
        if env is not None:
            return [a.strip() for a in env.split(",") if a.strip()]
        return list(self.unit_emails.get(code, []))
