"""Kept for callers outside the findings app: tests/factories.py and mssp/demo.py import
`import_request` from here. Remove when they import it from findings.imports."""

from .imports import import_request

__all__ = ["import_request"]
