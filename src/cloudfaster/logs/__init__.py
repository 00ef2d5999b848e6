"""Logging: rich console, rotating JSON-lines files, request ids, and a live stream."""
