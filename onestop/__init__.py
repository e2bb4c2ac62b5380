"""onestop: an open engine for one-stop government services."""

__version__ = "0.1.0"
