"""Settings are checked when read: a bad value names the variable and its allowed range."""

from __future__ import annotations

import pytest

from common.config import LOOKBACK_SECONDS, ConfigError, IngestionConfig, IntSetting

SETTING = IntSetting("TOTES_TEST_SECONDS", 900, 0, 86_400)


@pytest.mark.parametrize(("raw", "value"), [(None, 900), ("", 900), (" 0 ", 0), ("86400", 86_400)])
def test_a_value_in_range_or_the_default(monkeypatch, raw, value) -> None:
    if raw is None:
        monkeypatch.delenv(SETTING.name, raising=False)
    else:
        monkeypatch.setenv(SETTING.name, raw)
    assert SETTING.read() == value


@pytest.mark.parametrize("raw", ["-5", "86401", "99999999999", "1e3", "15m"])
def test_a_value_out_of_range_or_not_an_integer_is_refused(monkeypatch, raw) -> None:
    monkeypatch.setenv(SETTING.name, raw)
    with pytest.raises(ConfigError, match="TOTES_TEST_SECONDS must be an integer from 0 to 86400, got"):
        SETTING.read()


def test_ingestion_config_checks_its_settings(monkeypatch) -> None:
    for name in ("INGEST_BUCKET", "SSM_PREFIX", "SOURCE_DB_SECRET"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv(LOOKBACK_SECONDS.name, "-5")
    with pytest.raises(ConfigError, match="LOOKBACK_SECONDS"):
        IngestionConfig.from_env()
