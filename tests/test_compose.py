"""The deployment files, checked structurally (no Docker engine runs on the development machines):
docker-compose.yml, .env.example and the Dockerfile must agree with each other and with config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import REPO_ROOT
from monitor.routing import Router

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_EXAMPLE = {line.split("=", 1)[0] for line in
               (REPO_ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
RAW = (REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8")
LONG_RUNNING = ("elasticsearch", "kibana", "redis", "scheduler")


def env_of(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    return env if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


def test_the_stack_has_every_service_of_the_issue() -> None:
    assert {"elasticsearch", "kibana", "redis", "scheduler", "crawler", "setup"} <= set(SERVICES)
    assert SERVICES["elasticsearch"]["image"].endswith(":8.19.9")
    assert SERVICES["kibana"]["image"].endswith(":8.19.9")
    assert SERVICES["scheduler"]["command"] == ["finwatch", "serve"]
    assert SERVICES["crawler"]["command"][:3] == ["finwatch", "crawl", "--run-id"]
    assert SERVICES["scheduler"]["build"] == "." and (REPO_ROOT / "Dockerfile").is_file()


def test_security_is_on_and_every_secret_comes_from_env() -> None:
    es = env_of("elasticsearch")
    assert es["xpack.security.enabled"] == "true"
    assert es["ELASTIC_PASSWORD"].startswith("${ELASTIC_PASSWORD:?")
    assert env_of("kibana")["ELASTICSEARCH_PASSWORD"].startswith("${KIBANA_SYSTEM_PASSWORD:?")
    for name in ("scheduler", "crawler"):
        assert env_of(name)["ELASTICSEARCH_PASSWORD"].startswith("${FINWATCH_ES_PASSWORD:?")
        assert env_of(name)["ELASTICSEARCH_USERNAME"] == "finwatch"  # not the superuser
    for service in SERVICES:
        for key, value in env_of(service).items():
            if re.search(r"PASSWORD|KEY", key):
                assert str(value).startswith("${"), f"{service}: {key} is not from .env"


def test_every_variable_the_compose_file_reads_is_in_env_example() -> None:
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", RAW))
    assert used, "no ${VAR} found: the pattern is wrong"
    assert used <= ENV_EXAMPLE, f"missing from .env.example: {sorted(used - ENV_EXAMPLE)}"
    for line in (REPO_ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if "@" in line:
            assert line.rstrip().endswith("example.org"), line  # placeholders only


def test_each_unit_can_get_recipients() -> None:
    env = env_of("scheduler")
    for code in Router.from_file().unit_names:
        assert f"FINWATCH_UNIT_{code.upper()}_EMAILS" in env


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_have_health_checks(service: str) -> None:
    check = SERVICES[service]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL") and check["retries"] >= 3


def test_dependencies_wait_for_health_and_exist() -> None:
    for service, spec in SERVICES.items():
        for dep, cond in (spec.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{service} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{service} waits on {dep} health"


def test_named_volumes_are_declared_and_data_is_persistent() -> None:
    declared = set(COMPOSE["volumes"])
    for service, spec in SERVICES.items():
        for volume in spec.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{service}: volume {source} not declared"
    mounts = {v.split(":")[1] for v in SERVICES["scheduler"]["volumes"]}
    assert {"/var/lib/finwatch", "/var/lib/finwatch/evidence"} <= mounts
    assert any(v.endswith(":/usr/share/elasticsearch/data") for v in
               SERVICES["elasticsearch"]["volumes"])


def test_published_ports_are_loopback_only() -> None:
    for service, spec in SERVICES.items():
        for port in spec.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{service}: {port}"


def test_mail_relay_settings_reach_the_scheduler() -> None:
    env = env_of("scheduler")
    assert {"FINWATCH_SMTP_HOST", "FINWATCH_SMTP_PORT", "FINWATCH_SMTP_STARTTLS",
            "FINWATCH_SMTP_USER", "FINWATCH_SMTP_PASSWORD", "FINWATCH_SMTP_FROM"} <= set(env)


def test_dockerfile_installs_chromium_and_the_cjk_font() -> None:
    assert re.search(r"apt-get install[^\n]*\bchromium\b", DOCKERFILE)
    assert "fonts-wqy-microhei" in DOCKERFILE
    assert re.search(r"^USER (?!root)", DOCKERFILE, re.M)
    for folder in re.findall(r"^COPY (\w+) \1$", DOCKERFILE, re.M):
        assert Path(REPO_ROOT / folder).is_dir(), f"Dockerfile copies missing {folder}/"
