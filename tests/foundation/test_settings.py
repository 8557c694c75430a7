"""`.env.example` documents every setting with its real default, and `.env` is honoured."""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic import TypeAdapter

from adapters.settings import ConfigError, Settings, get_settings

REPO = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting_with_its_default() -> None:
    documented = dotenv_values(REPO / ".env.example")
    for name, field in Settings.model_fields.items():
        key = f"Q2C_{name.upper()}"
        assert key in documented, f"{key} missing from .env.example"
        assert field.annotation is not None
        value = TypeAdapter(field.annotation).validate_python(documented[key] or "")
        assert value == field.default, key


def test_dotenv_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("Q2C_TASK_QUEUE=from-dotenv\nQ2C_DEV_UI_PORT=9000\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("Q2C_DEV_UI_PORT", "9100")
    get_settings.cache_clear()
    try:
        settings = get_settings()
    finally:
        get_settings.cache_clear()
    assert settings.task_queue == "from-dotenv"
    assert settings.dev_ui_port == 9100


def test_malformed_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Q2C_HTTP_TIMEOUT_SECONDS", "-1")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="Q2C_HTTP_TIMEOUT_SECONDS"):
            get_settings()
    finally:
        get_settings.cache_clear()
