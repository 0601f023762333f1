"""gapcheck: finds the engineering gaps that make AI-written Python fail in production."""
__version__ = "0.1.0"
