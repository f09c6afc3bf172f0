"""Where ``config.accounts_file`` finds the accounts: env, Airflow option, $AIRFLOW_HOME, checkout."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from orderbridge import config


class FakeConf:
    """``airflow.configuration.conf`` as far as ``accounts_file`` uses it."""

    def __init__(self, options: dict[tuple[str, str], str]) -> None:
        self.options = options

    def get(self, section: str, key: str, fallback: str | None = None) -> str | None:
        return self.options.get((section, key), fallback)


@pytest.fixture
def places(tmp_path, monkeypatch):
    """No setting anywhere: a fresh AIRFLOW_HOME, Airflow not loaded, a checkout file that exists."""
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    monkeypatch.delenv(config.AIRFLOW_ENV_VAR, raising=False)
    monkeypatch.delitem(sys.modules, "airflow.configuration", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    checkout = tmp_path / "checkout" / "config" / "accounts.yaml"
    checkout.parent.mkdir(parents=True)
    checkout.write_text("groupon:\n  - {name: from_checkout, conn_id: orderbridge_groupon_from_checkout}\n")
    monkeypatch.setattr(config, "CHECKOUT_FILE", checkout)
    home = tmp_path / "airflow" / "orderbridge" / "accounts.yaml"
    return SimpleNamespace(tmp=tmp_path, checkout=checkout, home=home)


def _write(path, text: str = "{}\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_orderbridge_accounts_wins_over_every_other_setting(places, monkeypatch):
    _write(places.home)
    monkeypatch.setenv(config.AIRFLOW_ENV_VAR, str(places.tmp / "option.yaml"))
    monkeypatch.setenv(config.ENV_VAR, str(places.tmp / "env.yaml"))
    assert config.accounts_file() == places.tmp / "env.yaml"


def test_the_airflow_option_comes_from_airflow_conf_when_airflow_is_loaded(places, monkeypatch):
    _write(places.home)
    conf = FakeConf({("orderbridge", "accounts_file"): str(places.tmp / "from_airflow_cfg.yaml")})
    monkeypatch.setitem(sys.modules, "airflow.configuration", SimpleNamespace(conf=conf))
    assert config.accounts_file() == places.tmp / "from_airflow_cfg.yaml"


def test_the_airflow_option_is_read_from_its_environment_variable_without_loading_airflow(places, monkeypatch):
    monkeypatch.setenv(config.AIRFLOW_ENV_VAR, str(places.tmp / "option.yaml"))
    assert config.accounts_file() == places.tmp / "option.yaml"
    assert "airflow.configuration" not in sys.modules


def test_the_real_airflow_conf_answers_the_option_and_its_absence(tmp_path, monkeypatch):
    import airflow.configuration  # noqa: F401  (loaded, as in a DAG processor)

    monkeypatch.delenv(config.ENV_VAR, raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setattr(config, "CHECKOUT_FILE", tmp_path / "no_checkout.yaml")
    monkeypatch.setenv(config.AIRFLOW_ENV_VAR, str(tmp_path / "option.yaml"))
    assert config.accounts_file() == tmp_path / "option.yaml"
    monkeypatch.delenv(config.AIRFLOW_ENV_VAR)
    assert config.accounts_file() == tmp_path / "orderbridge" / "accounts.yaml"


def test_an_accounts_file_under_airflow_home_wins_over_the_checkout(places):
    _write(places.home)
    assert config.accounts_file() == places.home


def test_the_checkout_file_is_the_last_resort(places):
    assert config.accounts_file() == places.checkout
    assert [a.name for a in config.load_accounts("groupon")] == ["from_checkout"]


def test_with_no_file_anywhere_the_airflow_home_path_is_named_and_there_are_no_accounts(places, monkeypatch):
    monkeypatch.setattr(config, "CHECKOUT_FILE", places.tmp / "installed" / "config" / "accounts.yaml")
    assert config.accounts_file() == places.home
    assert config.load_accounts("groupon") == []


def test_every_minutes_sets_the_accounts_schedule_default_ten(tmp_path):
    path = _write(tmp_path / "accounts.yaml", "groupon:\n  - {name: a, conn_id: c_a}\n"
                                              "  - {name: b, conn_id: c_b, every_minutes: 30}\n")
    assert [a.every_minutes for a in config.load_accounts("groupon", path)] == [10, 30]


@pytest.mark.parametrize("value", [0, -5, 1441, 2.5, "ten", True])
def test_an_every_minutes_that_is_not_whole_minutes_from_1_to_1440_is_refused_naming_it(tmp_path, value):
    path = _write(tmp_path / "accounts.yaml", f"groupon:\n  - {{name: a, conn_id: c_a, every_minutes: {value!r}}}\n")
    with pytest.raises(ValueError, match=r"groupon\[0\]\.every_minutes must be a whole number of minutes from 1"):
        config.load_accounts("groupon", path)
