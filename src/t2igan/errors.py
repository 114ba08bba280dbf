"""Exceptions whose messages name the file, line or key at fault."""
from __future__ import annotations

from pathlib import Path


class T2IGANError(Exception):
    """Base class for errors the user can act on (the CLI prints them without a traceback)."""


class ConfigError(T2IGANError):
    """A value in params.yaml is missing, of the wrong type or out of range."""


class DataFormatError(T2IGANError):
    """A data file does not follow the CUB format."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line


class DownloadError(T2IGANError):
    """A file could not be fetched or failed its checksum."""
