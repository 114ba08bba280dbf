"""Logging of the stages and the CLI (t2igan.logs): INFO by default, -q / -v, the environment's level."""
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from t2igan import logs
from t2igan.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_levels_follow_the_flags_and_the_environment(monkeypatch):
    monkeypatch.delenv(logs.LEVEL_ENV, raising=False)
    assert [logs.level(v) for v in (-1, 0, 1)] == [logging.WARNING, logging.INFO, logging.DEBUG]
    monkeypatch.setenv(logs.LEVEL_ENV, "error")
    assert logs.level(1) == logging.ERROR
    monkeypatch.setenv(logs.LEVEL_ENV, "loud")
    with pytest.raises(ConfigError, match="T2IGAN_LOG_LEVEL='LOUD' is not a logging level"):
        logs.level()


def _stage_logging(tmp_path, **env) -> str:
    """A stage whose body logs as the downloader does; its stderr."""
    script = tmp_path / "stages" / "noisy.py"
    script.parent.mkdir()
    script.write_text("import logging\nfrom t2igan import stage\n"
                      "stage.run(lambda p: logging.getLogger('t2igan.data.download').info('fetching %s', 'x.tgz'), "
                      f"{str(ROOT / 'params.yaml')!r})\n")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"), **env})
    return proc.stderr


def test_a_stage_shows_the_downloaders_info_lines(tmp_path):
    assert "INFO t2igan.data.download: fetching x.tgz" in _stage_logging(tmp_path)


def test_the_environment_quiets_a_stage(tmp_path):
    assert "fetching" not in _stage_logging(tmp_path, T2IGAN_LOG_LEVEL="WARNING")


def test_the_cli_takes_verbose_and_quiet_but_not_both():
    proc = subprocess.run([sys.executable, "-m", "t2igan.cli", "-v", "-q", "info"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")}, cwd=ROOT)
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr
