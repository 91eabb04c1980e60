"""The package version, declared once: pyproject.toml reads it, model files record it."""

__version__ = "0.1.0"
