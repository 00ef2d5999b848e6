"""The images the templates use, pinned per notes/docker-side.md §4 (tags as of official-images 37079fb3).

scripts/standin-images/images.txt builds stand-ins with exactly these tags for the tests (no registry in CI).
"""

from __future__ import annotations

from typing import Final

NGINX_IMAGE: Final = "nginx:1.30-alpine"
PHP_IMAGE: Final = "php:8.5-apache-trixie"
NODE_IMAGE: Final = "node:26-alpine"
MYSQL_IMAGE: Final = "mysql:8.4"
POSTGRES_IMAGE: Final = "postgres:18-alpine"

TEMPLATE_IMAGES: Final[dict[str, str]] = {
    "nginx": NGINX_IMAGE,
    "php": PHP_IMAGE,
    "node": NODE_IMAGE,
    "mysql": MYSQL_IMAGE,
    "postgres": POSTGRES_IMAGE,
}
