"""A real single-node Elasticsearch on loopback, fetched, started and stopped by the project.

Why this exists: tests and the demo must run against a real Elasticsearch 8.x without Docker.
The minimal `integ-test-zip` distribution is fetched from Maven Central with `mvn` (by
coordinates), unpacked into a cache that survives re-runs, and started as a dedicated non-root
system user (Elasticsearch refuses to run as root) with security off, bound to 127.0.0.1 only.

If ``ELASTICSEARCH_URL`` is set, nothing is started: that cluster is used instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

ES_VERSION = os.environ.get("FINWATCH_ES_VERSION", "8.19.9")
ES_ARTIFACT = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"
ES_USER = os.environ.get("FINWATCH_ES_USER", "finwatch-es")
ES_HEAP = os.environ.get("FINWATCH_ES_HEAP", "512m")
START_TIMEOUT_S = float(os.environ.get("FINWATCH_ES_START_TIMEOUT", "180"))


class LocalElasticsearchError(RuntimeError):
    """The local node could not be fetched, started or reached; the message says why."""


def _is_root() -> bool:
    return os.geteuid() == 0


def cache_dir() -> Path:
    """Where the zip and its unpacked copy live; outside the repo so a fresh clone reuses them.

    Under root it must be readable by the node's system user, so not /root/.cache.
    """
    if env := os.environ.get("FINWATCH_CACHE_DIR"):
        return Path(env)
    if _is_root():
        return Path("/var/cache/finwatch")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "finwatch"


def node_dir() -> Path:
    """Data, logs, config copy and the state file of the one local node."""
    if env := os.environ.get("FINWATCH_ES_HOME"):
        return Path(env)
    if _is_root():
        return Path("/var/lib/finwatch/es-node")
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local/state")) / "finwatch/es-node"


@dataclass(frozen=True)
class NodeState:
    """What a started node left behind so that later commands can find and stop it."""

    url: str
    pid: int
    version: str

    @classmethod
    def load(cls, path: Path) -> NodeState | None:
        try:
            raw = json.loads(path.read_text())
            return cls(url=raw["url"], pid=int(raw["pid"]), version=raw["version"])
        except (OSError, ValueError, KeyError):
            return None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"url": self.url, "pid": self.pid, "version": self.version}))


def _state_file() -> Path:
    return node_dir() / "state.json"


def _run(cmd: list[str], what: str) -> None:
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise LocalElasticsearchError(f"{what}: command not found: {cmd[0]}") from exc
    except subprocess.CalledProcessError as exc:
        tail = exc.stderr.decode(errors="replace")[-2000:] if exc.stderr else ""
        raise LocalElasticsearchError(f"{what} failed (exit {exc.returncode}): {tail}") from exc


def _apt_install(*packages: str) -> None:
    if not _is_root():
        raise LocalElasticsearchError(
            f"missing {', '.join(packages)}; install it "
            f"(Debian: apt-get install {' '.join(packages)})"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, stdout=subprocess.DEVNULL)
    try:
        subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as exc:
        raise LocalElasticsearchError(f"apt-get install {' '.join(packages)} failed") from exc


def java_home() -> Path:
    """Find Java 17+ (installing Debian's headless JRE if missing); ES 8 reads ES_JAVA_HOME."""
    if env := os.environ.get("ES_JAVA_HOME"):
        return Path(env)
    java = shutil.which("java")
    if java is None:
        _apt_install("openjdk-17-jre-headless")
        java = shutil.which("java")
        if java is None:
            raise LocalElasticsearchError(
                "java still not found after installing openjdk-17-jre-headless")
    return Path(os.path.realpath(java)).parent.parent


def fetch_distribution(version: str = ES_VERSION) -> Path:
    """Fetch the zip with Maven (once) and unpack it (once); return the unpacked home."""
    dist = cache_dir() / "dist"
    home = dist / f"elasticsearch-{version}"
    if (home / "bin" / "elasticsearch").exists():
        return home
    dist.mkdir(parents=True, exist_ok=True)
    zip_path = dist / f"elasticsearch-{version}.zip"
    if not zip_path.exists():
        if shutil.which("mvn") is None:
            _apt_install("maven")
        print(f"fetching Elasticsearch {version} (integ-test-zip) with Maven ...", file=sys.stderr)
        _run(["mvn", "-B", "-q", "dependency:copy",
              f"-Dartifact={ES_ARTIFACT.format(version=version)}", f"-DoutputDirectory={dist}"],
             f"mvn dependency:copy {ES_ARTIFACT.format(version=version)}")
        if not zip_path.exists():
            raise LocalElasticsearchError(f"Maven finished but {zip_path} is missing")
    tmp = dist / f".unpack-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            archive.extract(info, tmp)
            mode = (info.external_attr >> 16) & 0o777
            if mode:  # zipfile drops Unix modes; the launch scripts need their exec bits
                os.chmod(tmp / info.filename, mode)
    unpacked = tmp / f"elasticsearch-{version}"
    if not unpacked.is_dir():
        raise LocalElasticsearchError(f"{zip_path} did not contain elasticsearch-{version}/")
    with contextlib.suppress(OSError):  # another process may have won the race: fine
        unpacked.rename(home)
    shutil.rmtree(tmp, ignore_errors=True)
    return home


def _ensure_user() -> None:
    try:
        pwd.getpwnam(ES_USER)
    except KeyError:
        _run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
              "--shell", "/usr/sbin/nologin", ES_USER], f"useradd {ES_USER}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(url: str, timeout: float = 2.0) -> str | None:
    """Cluster health status ('green', 'yellow', 'red'), or None when unreachable."""
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=timeout) as resp:
            return json.load(resp).get("status")
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_tail(logs: Path, lines: int = 30) -> str:
    candidates = sorted(logs.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    out = []
    for path in candidates[:1] + [logs / "console.out"]:
        if path.exists():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path}\n" + "\n".join(tail))
    return "\n".join(out) or "(no log written)"


def running_node() -> NodeState | None:
    """The node this machine's state file points at, if it answers."""
    state = NodeState.load(_state_file())
    if state and health(state.url) in ("green", "yellow"):
        return state
    return None


@contextlib.contextmanager
def _lock():
    node = node_dir()
    node.mkdir(parents=True, exist_ok=True)
    with open(node.parent / f".{node.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start(version: str = ES_VERSION) -> NodeState:
    """Start the local node (or return the one already running) and wait for yellow health."""
    with _lock():
        if state := running_node():
            return state
        es_home = fetch_distribution(version)
        jhome = java_home()
        node = node_dir()
        data, logs, conf = node / "data", node / "logs", node / "config"
        for folder in (data, logs):
            folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(conf, ignore_errors=True)
        shutil.copytree(es_home / "config", conf)  # ES writes its keystore here: a private copy
        pidfile = node / "es.pid"
        pidfile.unlink(missing_ok=True)
        http_port, transport_port = _free_port(), _free_port()
        settings = {
            "cluster.name": "finwatch-local",
            "node.name": "finwatch-local-1",
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "http.port": str(http_port),
            "transport.port": str(transport_port),
            "path.data": str(data),
            "path.logs": str(logs),
            "xpack.security.enabled": "false",
            "cluster.routing.allocation.disk.threshold_enabled": "false",
            "action.destructive_requires_name": "false",
        }
        env_vars = {
            "ES_JAVA_HOME": str(jhome),
            "ES_JAVA_OPTS": f"-Xms{ES_HEAP} -Xmx{ES_HEAP}",
            "ES_PATH_CONF": str(conf),
        }
        cmd = [str(es_home / "bin" / "elasticsearch"), "-d", "-p", str(pidfile)]
        cmd += [arg for key, value in settings.items() for arg in ("-E", f"{key}={value}")]
        if _is_root():
            _ensure_user()
            uid = pwd.getpwnam(ES_USER).pw_uid
            for path in (node, data, logs, conf):
                os.chown(path, uid, -1)
            for root, dirs, files in os.walk(node):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), uid, -1)
            assignments = [f"{k}={v}" for k, v in env_vars.items()]
            cmd = ["runuser", "-u", ES_USER, "--", "env", *assignments, *cmd]
            env = dict(os.environ)
        else:
            env = {**os.environ, **env_vars}
        with open(logs / "console.out", "ab") as console:
            proc = subprocess.run(cmd, env=env, stdout=console, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:
            raise LocalElasticsearchError(
                f"Elasticsearch exited with {proc.returncode} at start-up\n{_log_tail(logs)}")
        url = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            pid = int(pidfile.read_text().strip()) if pidfile.exists() else 0
            if health(url) in ("green", "yellow"):
                state = NodeState(url=url, pid=pid, version=version)
                state.save(_state_file())
                return state
            if pid and not _pid_alive(pid):
                raise LocalElasticsearchError(
                    f"Elasticsearch died during start-up\n{_log_tail(logs)}")
            time.sleep(0.5)
        raise LocalElasticsearchError(
            f"Elasticsearch at {url} not healthy after {START_TIMEOUT_S:.0f}s\n{_log_tail(logs)}")


def stop(timeout: float = 30.0) -> bool:
    """Stop the local node if it runs; True when a node was stopped."""
    state = NodeState.load(_state_file())
    if state is None or not state.pid or not _pid_alive(state.pid):
        _state_file().unlink(missing_ok=True)
        return False
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _pid_alive(state.pid):
        os.kill(state.pid, signal.SIGKILL)
    _state_file().unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    """`python -m monitor.es_local start|stop|status` (also `finwatch es ...`)."""
    args = argv if argv is not None else sys.argv[1:]
    action = args[0] if args else "status"
    return run_action(action)


def run_action(action: str) -> int:
    """Carry out one of start|stop|status and print the outcome for an operator."""
    if os.environ.get("ELASTICSEARCH_URL") and action in ("start", "stop"):
        print(f"ELASTICSEARCH_URL is set: using {os.environ['ELASTICSEARCH_URL']}, "
              "no local node is started or stopped")
        return 0
    try:
        if action == "start":
            state = start()
            print(f"Elasticsearch {state.version} running at {state.url} (pid {state.pid})")
        elif action == "stop":
            print("stopped" if stop() else "no local node was running")
        elif action == "status":
            url = os.environ.get("ELASTICSEARCH_URL")
            if url:
                print(f"external cluster {url}: {health(url) or 'unreachable'}")
                return 0
            state = running_node()
            if state is None:
                print("no local node running")
                return 3
            print(f"Elasticsearch {state.version} at {state.url} (pid {state.pid}): "
                  f"{health(state.url)}")
        else:
            print(f"unknown action {action!r}; expected start, stop or status", file=sys.stderr)
            return 2
    except LocalElasticsearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
