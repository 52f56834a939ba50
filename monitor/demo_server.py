"""Serve the bundled demo sites (demo/sites/<site_id>/) on their loopback addresses.

Why this exists: finwatch must be demonstrable and testable end to end without touching real
websites. Each demo site in ``config/sites.yaml`` has a loopback start URL (127.0.0.11..16,
port 18600); this module binds exactly that host:port so the crawler, run unchanged against the
shipped config, finds the demo pages where the config says they are.

The pages are kept as UTF-8 on disk so they are easy to edit. Real local Chinese sites are
often GBK and send headers that contradict their ``<meta charset>``; a per-site manifest
``_serve.yaml`` re-creates that at serve time (see ``SiteManifest``) so the crawler's encoding
repair is exercised by the demo, not just by unit tests.

``GET /__finwatch_demo__`` answers a small JSON marker. Callers (tests, ``finwatch demo-sites
serve``, a second start while one is already running) use it to tell our server from a foreign
process that happens to hold the port: reuse ours, refuse to fight a stranger.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import ipaddress
import json
import mimetypes
import posixpath
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self
from urllib.parse import unquote, urlsplit

import yaml

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
DEFAULT_SITES_FILE: Path = REPO_ROOT / "config" / "sites.yaml"
DEFAULT_SITES_ROOT: Path = REPO_ROOT / "demo" / "sites"

MARKER_PATH = "/__finwatch_demo__"
MARKER_NAME = "finwatch-demo"
MARKER_VERSION = 1
MANIFEST_NAME = "_serve.yaml"

# Fixed types for what the demo ships, so headers do not depend on the host's /etc/mime.types.
_MIME_TYPES = {
    ".html": "text/html", ".htm": "text/html", ".js": "text/javascript", ".css": "text/css",
    ".txt": "text/plain", ".json": "application/json", ".xml": "application/xml",
    ".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif", ".ico": "image/x-icon",
}
# Text types are re-encoded per the manifest; everything else is sent byte for byte.
_TEXT_TYPES = ("text/", "application/javascript", "application/json", "application/xml")
_PROBE_TIMEOUT_S = 1.0


class DemoServerError(RuntimeError):
    """A demo site cannot be served (port held by a foreign process, bad manifest, ...)."""


# --------------------------------------------------------------------------------------------
# Manifest


@dataclass(frozen=True)
class FileRule:
    """How to serve one file: the byte encoding of its text and an explicit Content-Type.

    ``content_type`` is sent verbatim when set, even if it contradicts the body: that is
    the point (the classifieds listing page says ``charset=utf-8`` and sends GBK).
    """

    encoding: str = "utf-8"
    content_type: str | None = None


@dataclass(frozen=True)
class SiteManifest:
    """Serving rules of one demo site, read from ``demo/sites/<id>/_serve.yaml``.

    Format (every key optional)::

        encoding: gbk                 # site-wide default for text files (default utf-8)
        files:
          list.html:                  # path relative to the site folder, "/" -> index.html
            content_type: "text/html; charset=utf-8"
          news/a.html:
            encoding: gbk

    Without a ``content_type`` a text file gets ``<mime>; charset=<encoding>``, i.e. an honest
    header; the manifest only says where the demo is meant to lie or stay silent.
    """

    default_encoding: str = "utf-8"
    files: Mapping[str, FileRule] = field(default_factory=dict)

    @classmethod
    def load(cls, site_dir: Path) -> SiteManifest:
        """Read the manifest of ``site_dir``; a missing file means plain UTF-8 everywhere."""
        path = site_dir / MANIFEST_NAME
        if not path.is_file():
            return cls()
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise DemoServerError(f"{path}: expected a mapping at top level")
        default_encoding = _check_encoding(str(data.get("encoding", "utf-8")), path)
        files: dict[str, FileRule] = {}
        for rel, rule in (data.get("files") or {}).items():
            rule = rule or {}
            if not isinstance(rule, dict):
                raise DemoServerError(f"{path}: rule for {rel!r} must be a mapping")
            unknown = set(rule) - {"encoding", "content_type"}
            if unknown:
                raise DemoServerError(f"{path}: unknown keys {sorted(unknown)} for {rel!r}")
            key = _normalise_rel(str(rel))
            if not (site_dir / key).is_file():
                raise DemoServerError(f"{path}: {rel!r} names no file in {site_dir}")
            files[key] = FileRule(
                encoding=_check_encoding(str(rule.get("encoding", default_encoding)), path),
                content_type=rule.get("content_type"),
            )
        return cls(default_encoding=default_encoding, files=files)

    def rule_for(self, rel: str) -> FileRule:
        """The rule for a path relative to the site folder (``index.html``, ``news/a.html``)."""
        return self.files.get(rel, FileRule(encoding=self.default_encoding))


def _check_encoding(name: str, where: Path) -> str:
    """Fail at load time, not at request time, when a manifest names an unknown codec."""
    try:
        "".encode(name)
    except LookupError as exc:
        raise DemoServerError(f"{where}: unknown encoding {name!r}") from exc
    return name


def _normalise_rel(rel: str) -> str:
    """Map a manifest key or URL path to a file path relative to the site folder."""
    rel = rel.strip().lstrip("/")
    if rel == "" or rel.endswith("/"):
        rel += "index.html"
    return posixpath.normpath(rel)


# --------------------------------------------------------------------------------------------
# Site list


@dataclass(frozen=True)
class DemoSite:
    """One demo site to serve: its id, the loopback address to bind and its page folder."""

    site_id: str
    host: str
    port: int
    root: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def load_demo_sites(
    sites_file: Path | str = DEFAULT_SITES_FILE, sites_root: Path | str = DEFAULT_SITES_ROOT
) -> list[DemoSite]:
    """Sites of ``sites_file`` that have a folder under ``sites_root``, in file order.

    Sites without a demo folder are skipped silently: a district's own sites.yaml lists real
    portals, and the demo server must never pretend to be them. A demo folder whose start URL
    is not a loopback address is refused for the same reason.
    """
    sites_file = Path(sites_file)
    sites_root = Path(sites_root)
    data = yaml.safe_load(sites_file.read_text(encoding="utf-8")) or {}
    result: list[DemoSite] = []
    seen: dict[tuple[str, int], str] = {}
    for entry in data.get("sites") or []:
        site_id = str(entry["id"])
        root = sites_root / site_id
        if not root.is_dir():
            continue
        urls = entry.get("start_urls") or []
        if not urls:
            raise DemoServerError(f"{sites_file}: site {site_id!r} has no start_urls")
        parts = urlsplit(str(urls[0]))
        if parts.scheme != "http" or not parts.hostname:
            raise DemoServerError(f"{site_id}: demo start URL must be http://host:port/")
        host, port = parts.hostname, parts.port or 80
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise DemoServerError(
                f"{site_id}: demo sites are served on loopback IP addresses only, not {host!r}"
            )
        if (host, port) in seen:
            raise DemoServerError(f"{site_id} and {seen[(host, port)]} share {host}:{port}")
        seen[(host, port)] = site_id
        result.append(DemoSite(site_id=site_id, host=host, port=port, root=root))
    return result


# --------------------------------------------------------------------------------------------
# HTTP


class _DemoHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows which demo site it serves."""

    daemon_threads = True

    def __init__(self, site: DemoSite, manifest: SiteManifest) -> None:
        self.site = site
        self.manifest = manifest
        super().__init__((site.host, site.port), _DemoHandler)


class _DemoHandler(BaseHTTPRequestHandler):
    """Static files with manifest-driven encoding and headers; 404 for everything unknown."""

    server: _DemoHTTPServer
    server_version = "finwatch-demo/1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        """Silence per-request lines: crawls make hundreds and bury real errors."""

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def _respond(self, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == MARKER_PATH:
            marker = {"name": MARKER_NAME, "version": MARKER_VERSION,
                      "site_id": self.server.site.site_id}
            body = json.dumps(marker).encode("utf-8")
            self._send(HTTPStatus.OK, "application/json", body, send_body)
            return
        found = self._resolve(path)
        if found is None:
            self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"404 not found\n",
                       send_body)
            return
        rel, file = found
        rule = self.server.manifest.rule_for(rel)
        mime = (_MIME_TYPES.get(file.suffix.lower())
                or mimetypes.guess_type(file.name)[0] or "application/octet-stream")
        raw = file.read_bytes()
        if mime.startswith(_TEXT_TYPES):
            try:
                body = raw.decode("utf-8").encode(rule.encoding)
            except UnicodeError as exc:
                # A page that cannot be served as configured is a bug in the demo content;
                # say so loudly instead of sending something silently different.
                sys.stderr.write(f"finwatch demo: cannot serve {file} as {rule.encoding}: {exc}\n")
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
                           b"demo page cannot be encoded as configured\n", send_body)
                return
            content_type = rule.content_type or f"{mime}; charset={rule.encoding}"
        else:
            body = raw
            content_type = rule.content_type or mime
        # Validators like a real web server's, so conditional re-crawls can get 304.
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        last_modified = formatdate(file.stat().st_mtime, usegmt=True)
        validators = {"ETag": etag, "Last-Modified": last_modified}
        if etag in (self.headers.get("If-None-Match") or ""):
            self._send(HTTPStatus.NOT_MODIFIED, content_type, b"", False, validators)
            return
        self._send(HTTPStatus.OK, content_type, body, send_body, validators)

    def _resolve(self, url_path: str) -> tuple[str, Path] | None:
        """Map a URL path to (relative path, file) inside the site folder, or None."""
        rel = _normalise_rel(url_path)
        if rel.startswith("..") or rel.startswith("/") or rel == MANIFEST_NAME:
            return None
        root = self.server.site.root.resolve()
        file = (root / rel).resolve()
        if not file.is_relative_to(root):
            return None
        if file.is_dir():
            rel, file = posixpath.join(rel, "index.html"), file / "index.html"
        if not file.is_file() or file.name.startswith("_"):
            return None
        return rel, file

    def _send(self, status: HTTPStatus, content_type: str, body: bytes, send_body: bool,
              extra_headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)


# --------------------------------------------------------------------------------------------
# Probing


def probe(host: str, port: int, timeout: float = _PROBE_TIMEOUT_S) -> dict[str, Any] | None:
    """What holds ``host:port``: None if nothing listens, else the marker JSON (or {} if foreign).

    A foreign process is anything that accepts the connection but does not answer the marker
    path with our JSON; the caller decides what to do with it.
    """
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", MARKER_PATH)
        resp = conn.getresponse()
        raw = resp.read(4096)
        if resp.status != HTTPStatus.OK:
            return {}
        data = json.loads(raw.decode("utf-8"))
        if isinstance(data, dict) and data.get("name") == MARKER_NAME:
            return data
        return {}
    except ConnectionRefusedError:
        return None
    except (OSError, http.client.HTTPException, ValueError):
        return {}
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Public API


class DemoSites:
    """Serve every demo site listed in a sites file, each on its own loopback address.

    Use as a context manager (``with DemoSites() as demo: demo.urls[...]``) or call
    ``start()`` / ``stop()``. If every address already answers with our marker for the same
    site id, nothing is started and ``already_running`` is True: tests and the CLI can run next
    to a demo someone started in another terminal. An address held by anything else raises
    ``DemoServerError`` naming it, because silently crawling a stranger would be worse. If only
    some addresses are already ours, the missing ones are started and ``already_running`` is
    False; ``stop()`` only ever stops what this object started.
    """

    def __init__(
        self,
        sites_file: Path | str = DEFAULT_SITES_FILE,
        sites_root: Path | str = DEFAULT_SITES_ROOT,
    ) -> None:
        self.sites_file = Path(sites_file)
        self.sites_root = Path(sites_root)
        self.sites: list[DemoSite] = load_demo_sites(self.sites_file, self.sites_root)
        self.urls: dict[str, str] = {s.site_id: s.base_url for s in self.sites}
        self.already_running: bool = False
        self._servers: list[_DemoHTTPServer] = []
        self._threads: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        """True while this object serves at least one site itself."""
        return bool(self._servers)

    def start(self) -> Self:
        """Bind and serve every site not already served by a finwatch demo server."""
        if self._servers:
            return self
        if not self.sites:
            raise DemoServerError(f"no demo site folders under {self.sites_root} for "
                                  f"the sites in {self.sites_file}")
        to_start: list[DemoSite] = []
        for site in self.sites:
            state = probe(site.host, site.port)
            if state is None:
                to_start.append(site)
            elif state.get("site_id") == site.site_id:
                continue
            elif state:
                raise DemoServerError(
                    f"{site.address} is served by the finwatch demo of site "
                    f"{state.get('site_id')!r}, not {site.site_id!r}: stop that demo server first"
                )
            else:
                raise DemoServerError(
                    f"{site.address} (demo site {site.site_id}) is held by another process "
                    f"that is not a finwatch demo server; free the port or change {self.sites_file}"
                )
        self.already_running = not to_start
        try:
            for site in to_start:
                manifest = SiteManifest.load(site.root)
                try:
                    server = _DemoHTTPServer(site, manifest)
                except OSError as exc:
                    raise DemoServerError(f"cannot bind {site.address} for demo site "
                                          f"{site.site_id}: {exc}") from exc
                thread = threading.Thread(target=server.serve_forever,
                                          kwargs={"poll_interval": 0.2},
                                          name=f"demo-{site.site_id}", daemon=True)
                thread.start()
                self._servers.append(server)
                self._threads.append(thread)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the servers this object started (never ones it merely reused)."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m monitor.demo_server [--sites FILE]``: serve in the foreground until stopped."""
    parser = argparse.ArgumentParser(prog="python -m monitor.demo_server",
                                     description="Serve the bundled finwatch demo sites.")
    parser.add_argument("--sites", type=Path, default=DEFAULT_SITES_FILE,
                        help="sites file (default: %(default)s)")
    parser.add_argument("--root", type=Path, default=DEFAULT_SITES_ROOT,
                        help="folder with one sub-folder per demo site (default: %(default)s)")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        demo = DemoSites(args.sites, args.root).start()
    except (DemoServerError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with demo:
        if demo.already_running:
            print("finwatch demo sites are already being served by another process:")
        for site_id, url in demo.urls.items():
            print(f"  {site_id:<20} {url}")
        if demo.already_running:
            return 0
        print("serving; press Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
