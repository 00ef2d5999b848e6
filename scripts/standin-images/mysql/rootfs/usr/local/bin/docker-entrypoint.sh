#!/bin/sh
# The mysql stand-in's entrypoint: the official image's variables and errors (MYSQL_ROOT_PASSWORD, MYSQL_DATABASE,
# MYSQL_USER, MYSQL_PASSWORD), then a real MariaDB server from Debian's packages. On first start it creates the
# system tables, then runs a temporary server without networking to set the passwords, the database and the user,
# so `mysqladmin ping -h 127.0.0.1` only succeeds once the real server is up (as docker-library/mysql does).
set -e
if [ "${1#-}" != "$1" ]; then set -- mysqld "$@"; fi
if [ "$1" != mysqld ] && [ "$1" != mariadbd ]; then exec "$@"; fi
shift
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
datadir=/var/lib/mysql
touch "$datadir/.writable" 2>/dev/null || { echo "[ERROR] $datadir is not writable" >&2; exit 1; }
rm -f "$datadir/.writable"

sql_string() { printf "'%s'" "$(printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g")"; }
sql_name() { printf '`%s`' "$(printf '%s' "$1" | sed 's/`/``/g')"; }

if [ ! -d "$datadir/mysql" ]; then
  echo "mysql stand-in: initializing the database directory"
  # --bootstrap reads one statement per line, as mariadb-install-db's cat_sql feeds it.
  { printf '%s\n' "create database if not exists mysql;" "use mysql;" "SET @auth_root_socket=NULL;"
    cat /usr/share/mysql/mysql_system_tables.sql /usr/share/mysql/mysql_performance_tables.sql \
        /usr/share/mysql/mysql_system_tables_data.sql
  } | mariadbd --bootstrap --datadir="$datadir" --log-warnings=0 >/tmp/bootstrap.log 2>&1 \
    || { cat /tmp/bootstrap.log >&2; exit 1; }
  mariadbd --skip-networking --socket=/tmp/init.sock &
  pid=$!
  i=0
  until mariadb-admin --socket=/tmp/init.sock -uroot ping --silent >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 300 ] || { echo "[ERROR] the init server did not start" >&2; exit 1; }
    kill -0 "$pid" 2>/dev/null || { echo "[ERROR] the init server exited" >&2; exit 1; }
    sleep 0.1
  done
  root_pw=$(sql_string "${MYSQL_ROOT_PASSWORD:-}")
  {
    echo "DROP USER IF EXISTS ''@'localhost';"
    # The system tables name the build host's root accounts too; only localhost and '%' stay.
    echo "DELETE FROM mysql.global_priv WHERE Host NOT IN ('localhost', '%');"
    echo "DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '%');"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $root_pw;"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $root_pw; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "$MYSQL_DATABASE" ]; then echo "CREATE DATABASE IF NOT EXISTS $(sql_name "$MYSQL_DATABASE");"; fi
    if [ -n "$MYSQL_USER" ]; then
      echo "CREATE USER $(sql_string "$MYSQL_USER")@'%' IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
      if [ -n "$MYSQL_DATABASE" ]; then
        echo "GRANT ALL ON $(sql_name "$MYSQL_DATABASE").* TO $(sql_string "$MYSQL_USER")@'%';"
      fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket=/tmp/init.sock -uroot
  kill "$pid"
  wait "$pid" || true
fi
echo "mysql stand-in: ready for connections. port: 3306 database: ${MYSQL_DATABASE:-}"
exec mariadbd "$@"
