"""Tator: the annotation backend. Importing this package must stay cheap (no torch)."""

__version__ = "0.1.0"
