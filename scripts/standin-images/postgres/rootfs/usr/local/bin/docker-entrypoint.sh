#!/bin/sh
# Stand-in for the postgres image: insists on POSTGRES_PASSWORD like the real entrypoint, needs a writable
# $PGDATA, then accepts TCP connections on 5432 (busybox nc).
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi
if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
  echo "Error: Database is uninitialized and superuser password is not specified." >&2
  echo "       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
  exit 1
fi
mkdir -p "$PGDATA" && echo 18 > "$PGDATA/PG_VERSION" || { echo "initdb: could not create $PGDATA" >&2; exit 1; }
echo "postgres stand-in: database system is ready to accept connections (db ${POSTGRES_DB:-${POSTGRES_USER:-postgres}})"
exec nc -ll -p 5432 -e /bin/true
