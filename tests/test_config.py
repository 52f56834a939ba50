"""Site configuration: valid files load, mistakes are named precisely, bad entries are isolated."""

from pathlib import Path

import pytest

from monitor.config import CONFIG_DIR, ConfigError, labels, load_sites, zh_label


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sites.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_sites_file_is_valid_and_defaults_apply() -> None:
    parsed = load_sites(CONFIG_DIR / "sites.yaml")
    assert parsed.errors == ()
    forum = {s.id: s for s in parsed.sites}["baodi_forum"]
    assert forum.render is True
    assert ".ad-slot" in forum.ad_selectors  # from `defaults`
    assert forum.domains == ("127.0.0.13",)


def test_invalid_entry_is_disabled_with_a_message_naming_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, """
version: 1
sites:
  - {id: good, name: 好站, kind: forum, start_urls: ["http://127.0.0.1:1/"]}
  - {id: bad, name: 坏站, kind: casino, start_urls: ["ftp://x/"]}
""")
    parsed = load_sites(path)
    assert [s.id for s in parsed.sites] == ["good"]
    joined = "\n".join(parsed.errors)
    assert str(path) in joined
    assert "sites.1 (bad).kind" in joined and "casino" in joined
    assert "sites.1 (bad).start_urls.0" in joined
    assert "site disabled" in joined


def test_duplicate_site_id_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, """
version: 1
sites:
  - {id: a, name: A, kind: forum, start_urls: ["http://127.0.0.1:1/"]}
  - {id: a, name: A2, kind: forum, start_urls: ["http://127.0.0.1:2/"]}
""")
    parsed = load_sites(path)
    assert len(parsed.sites) == 1
    assert "duplicate site id 'a'" in parsed.errors[0]


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nsites:\n  - id: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_sites(path)
    assert str(path) in str(info.value) and "line" in str(info.value)


def test_wrong_top_level_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nsite: []\n")
    with pytest.raises(ConfigError, match="'sites' is a required property"):
        load_sites(path)


def test_label_vocabulary_is_read_from_config() -> None:
    vocab = labels()
    assert set(vocab["verdicts"]) == {"violation", "financial", "other"}
    assert "guaranteed_return" in vocab["violations"]
    assert zh_label("violations", "guaranteed_return") == "承诺保本保收益"


def test_schedule_is_interval_or_cron(tmp_path: Path) -> None:
    path = write(tmp_path, """
version: 1
defaults: {schedule: {every_minutes: 30}}
sites:
  - {id: a, name: A, kind: forum, start_urls: ["http://127.0.0.1:1/"]}
  - {id: b, name: B, kind: forum, start_urls: ["http://127.0.0.1:2/"],
     schedule: {cron: "0 8 * * 1"}}
  - {id: c, name: C, kind: forum, start_urls: ["http://127.0.0.1:3/"], schedule: {cron: "daily"}}
""")
    parsed = load_sites(path)
    assert {s.id: s.schedule for s in parsed.sites} == {
        "a": {"every_minutes": 30}, "b": {"cron": "0 8 * * 1"}}
    assert "sites.2 (c).schedule" in parsed.errors[0]
