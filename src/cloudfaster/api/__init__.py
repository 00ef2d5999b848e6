"""The HTTP API: app factory, dependencies, middleware and routes."""
