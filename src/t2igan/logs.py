"""Logging for the stages and the CLI: the downloader's and the data reader's messages to stderr.

INFO by default (what a download is doing: its URL, retries, the md5 it saw), WARNING with
``-q``, DEBUG with ``-v``; ``T2IGAN_LOG_LEVEL`` (a level name, e.g. ``DEBUG``) overrides both,
for the stages under `dvc repro`, which take no flags.
"""
from __future__ import annotations

import logging
import os

from t2igan.errors import ConfigError

LEVEL_ENV = "T2IGAN_LOG_LEVEL"


def level(verbosity: int = 0) -> int:
    """The level for ``verbosity`` (-1 quiet, 0 default, 1 verbose), unless the environment names one."""
    name = os.environ.get(LEVEL_ENV, "").strip().upper()
    if name:
        value = logging.getLevelName(name)
        if not isinstance(value, int):
            raise ConfigError(f"{LEVEL_ENV}={name!r} is not a logging level; use DEBUG, INFO, WARNING or ERROR")
        return value
    return {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG if verbosity > 0 else logging.WARNING)


def configure(verbosity: int = 0) -> None:
    """Send log records of ``level(verbosity)`` and above to stderr, one line each."""
    logging.basicConfig(level=level(verbosity), format="%(levelname)s %(name)s: %(message)s", force=True)
