"""Evidence files (取证): where they live, how they are written, and how they are verified.

Why: ads disappear; an alert is only actionable if the page as fetched can be shown later and
proven unaltered. Files are content-addressed (named by their SHA-256), so names never come from
a URL (no path traversal) and a second copy of the same bytes costs nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.config import CONFIG_DIR, REPO_ROOT, ConfigError, load_yaml

_SAFE_PART = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class EvidenceSettings:
    root: Path
    screenshot: bool
    screenshot_timeout_s: float

    @classmethod
    def load(cls, path: Path = CONFIG_DIR / "finwatch.yaml") -> EvidenceSettings:
        data = (load_yaml(path) or {}).get("evidence") or {}
        root = Path(os.environ.get("FINWATCH_EVIDENCE_DIR") or data.get("dir", "var/evidence"))
        if not root.is_absolute():
            root = REPO_ROOT / root
        screenshot = bool(data.get("screenshot", True))
        if (flag := os.environ.get("FINWATCH_EVIDENCE_SCREENSHOT")) is not None:
            screenshot = flag.strip().lower() not in ("0", "false", "no", "off")
        return cls(root=root, screenshot=screenshot,
                   screenshot_timeout_s=float(data.get("screenshot_timeout_s", 30)))


def write_evidence(root: Path, site_id: str, data: bytes, suffix: str) -> tuple[str, str]:
    """Store bytes under root/site/<sha256><suffix>, fsynced; return (path, sha256)."""
    if not _SAFE_PART.match(site_id) or suffix not in (".html", ".png"):
        raise ConfigError(f"unsafe evidence name: site {site_id!r}, suffix {suffix!r}")
    digest = hashlib.sha256(data).hexdigest()
    folder = root / site_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}{suffix}"
    if not path.exists():
        tmp = folder / f".{digest}{suffix}.{os.getpid()}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    return str(path), digest


@dataclass(frozen=True)
class Check:
    what: str
    path: str | None
    expected: str | None
    ok: bool
    detail: str


def verify(files: dict[str, Any]) -> list[Check]:
    """Re-hash each evidence file of an alert and compare with the recorded SHA-256."""
    checks = []
    for what in ("html", "png"):
        path, expected = files.get(f"{what}_path"), files.get(f"{what}_sha256")
        if not path:
            reason = files.get("screenshot_error") if what == "png" else None
            checks.append(Check(what, None, None, False, f"not captured: {reason or 'unknown'}"))
            continue
        try:
            actual = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError as exc:
            checks.append(Check(what, path, expected, False, f"cannot read: {exc.strerror}"))
            continue
        ok = actual == expected
        checks.append(Check(what, path, expected, ok,
                            "sha256 verified" if ok else f"sha256 MISMATCH: file is {actual}"))
    return checks
