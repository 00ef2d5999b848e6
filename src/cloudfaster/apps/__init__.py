"""Docker Compose services: templates, ZIP and git sources, Filebrowser, lifecycle."""
