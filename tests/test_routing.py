"""Routing follows the plan's division of duties, and the table in config/ alone decides it."""

from pathlib import Path

import pytest

from monitor.config import CONFIG_DIR, ConfigError
from monitor.routing import Router


def test_plan_division_of_duties() -> None:
    router = Router.from_file()
    assert router.route("p2p_lending", [])[0] == "gxw"
    assert router.route("crowdfunding", [])[0] == "fgw"
    assert router.route("real_estate_finance", [])[0] == "fgj"
    assert router.route("payment", [])[0] == "jrzx"
    assert "scjgj" in router.route("asset_management", []) and "wxb" in router.route("lending", [])
    assert router.route("asset_management", ["illegal_fundraising"])[-1] == "gafj"
    assert router.unit_names["gafj"] == "公安分局"


def test_no_unit_repeats() -> None:
    units = Router.from_file().route("none", ["illegal_fundraising"])
    assert len(units) == len(set(units))


def test_changing_the_table_reroutes_without_code(tmp_path: Path) -> None:
    text = (CONFIG_DIR / "units.yaml").read_text(encoding="utf-8")
    changed = tmp_path / "units.yaml"
    changed.write_text(text.replace("p2p_lending: [gxw]", "p2p_lending: [jrzx]"), encoding="utf-8")
    assert Router.from_file(changed).route("p2p_lending", [])[0] == "jrzx"


def test_unknown_unit_code_is_a_config_error(tmp_path: Path) -> None:
    text = (CONFIG_DIR / "units.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "units.yaml"
    broken.write_text(text.replace("crowdfunding: [fgw]", "crowdfunding: [nobody]"),
                      encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown unit code.*nobody"):
        Router.from_file(broken)
