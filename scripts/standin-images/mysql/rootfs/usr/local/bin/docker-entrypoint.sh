#!/bin/sh
# Stand-in for the mysql image: insists on a root password option like the real entrypoint, needs a writable
# /var/lib/mysql, then accepts TCP connections on 3306 (busybox nc, one short-lived handler per connection).
if [ "${1#-}" != "$1" ]; then set -- mysqld "$@"; fi
if [ "$1" != mysqld ]; then exec "$@"; fi
if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "$MYSQL_ALLOW_EMPTY_PASSWORD" ] && [ -z "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
  echo "[ERROR] [Entrypoint]: Database is uninitialized and password option is not specified" >&2
  echo "    You need to specify one of the following as an environment variable:" >&2
  echo "    - MYSQL_ROOT_PASSWORD" >&2
  exit 1
fi
if [ -n "$MYSQL_USER" ] && [ -z "$MYSQL_PASSWORD" ]; then
  echo "[ERROR] [Entrypoint]: MYSQL_USER specified, but missing MYSQL_PASSWORD; MYSQL_USER will not be created" >&2
  exit 1
fi
touch /var/lib/mysql/ibdata1 || { echo "[ERROR] /var/lib/mysql is not writable" >&2; exit 1; }
echo "mysql stand-in: ready for connections. port: 3306 database: ${MYSQL_DATABASE:-}"
exec nc -ll -p 3306 -e /bin/true
