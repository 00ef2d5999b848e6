"""The Docker half's lower layers: compose templates, source intake, on-disk layout and the `docker compose` client.

Nothing here knows about HTTP or the database. The compose schema (``compose-spec.json``) is the Compose
Specification's schema, copied unmodified from compose-spec/compose-spec at 170098ba (Apache-2.0).
"""
