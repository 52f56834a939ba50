"""The project-managed node really is Elasticsearch 8, on loopback, as a non-root user."""

from __future__ import annotations

import json
import os
import pwd
import urllib.request

import pytest

from monitor import es_local

pytestmark = pytest.mark.es


@pytest.mark.skipif(bool(os.environ.get("ELASTICSEARCH_URL")), reason="external cluster in use")
def test_local_node_is_es8_on_loopback_as_non_root(es_url: str) -> None:
    # (this minimal distribution answers GET / with 405, so ask the nodes API)
    with urllib.request.urlopen(f"{es_url}/_nodes/http") as resp:
        nodes = json.load(resp)["nodes"]
    (node,) = nodes.values()
    assert node["version"].startswith("8.19.")
    assert node["http"]["publish_address"].startswith("127.0.0.1:")
    assert all(a.startswith("127.0.0.1:") for a in node["http"]["bound_address"])
    state = es_local.running_node()
    assert state is not None and state.url == es_url
    owner = os.stat(f"/proc/{state.pid}").st_uid
    assert owner != 0
    if os.geteuid() == 0:
        assert pwd.getpwuid(owner).pw_name == es_local.ES_USER


def test_distribution_is_cached_and_reused() -> None:
    home = es_local.fetch_distribution()
    assert (home / "bin" / "elasticsearch").exists()
    assert os.access(home / "bin" / "elasticsearch", os.X_OK)
    assert es_local.fetch_distribution() == home  # second call: no Maven, no unzip


def test_status_reports_the_running_node(es_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert es_local.run_action("status") == 0
    out = capsys.readouterr().out
    assert es_url in out or os.environ.get("ELASTICSEARCH_URL", "") in out
    assert es_local.health(es_url) in ("green", "yellow")


@pytest.mark.skipif(bool(os.environ.get("ELASTICSEARCH_URL")), reason="external cluster in use")
def test_a_second_node_starts_and_stops_cleanly() -> None:
    """Start, status, stop, status through the script, on a node home of its own."""
    import shutil
    import subprocess
    import sys

    from monitor.config import REPO_ROOT

    home = es_local.node_dir().parent / f"test-node-{os.getpid()}"
    env = {**os.environ, "FINWATCH_ES_HOME": str(home)}

    def run(action: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "monitor.es_local", action], cwd=REPO_ROOT,
                              env=env, capture_output=True, text=True, timeout=240)

    try:
        started = run("start")
        assert started.returncode == 0, started.stderr
        state = es_local.NodeState.load(home / "state.json")
        assert state is not None and es_local.health(state.url) in ("green", "yellow")
        assert run("status").returncode == 0
        stopped = run("stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert not es_local._pid_alive(state.pid)
        assert es_local.health(state.url) is None
        assert run("status").returncode == 3
    finally:
        run("stop")
        shutil.rmtree(home, ignore_errors=True)
