#!/usr/bin/env bash
# Builds the stand-in images (busybox-static + a few scripts, `docker import`) and tags them exactly like the images
# the compose templates use (images.txt), without any image registry. A role with
# a `host-files` list also gets those files of the host (Debian's MariaDB and PostgreSQL) and every shared library
# their binaries load, so the database stand-ins are real database servers.
# A tag that already carries the current stand-in hash is skipped; a tag without the stand-in label is a real image
# and is never overwritten.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
busybox_bin=${BUSYBOX:-/bin/busybox}
[ -x "$busybox_bin" ] || { echo "stand-in images: $busybox_bin missing (apt-get install busybox-static)" >&2; exit 1; }
if ldd "$busybox_bin" >/dev/null 2>&1; then
  echo "stand-in images: $busybox_bin is dynamically linked; install busybox-static" >&2
  exit 1
fi

# The host paths a role copies in (comments and blank lines skipped).
host_files() {
  [ -f "$here/$1/host-files" ] && grep -v -e '^#' -e '^$' "$here/$1/host-files" || true
}

# The label value changes whenever a stand-in's files, the busybox binary or the host binaries it copies change,
# so edits and package upgrades trigger a rebuild.
role_hash() {
  (cd "$here" && find build.sh common "$1" -type f -print0 | sort -z | xargs -0 sha256sum; sha256sum "$busybox_bin" | cut -d" " -f1
   host_files "$1" | while read -r path; do if [ -f "$path" ]; then sha256sum "$path"; fi; done) \
    | sha256sum | cut -c1-16
}

# Copy a host file or directory into the stage at the same path (`cp --parents` of coreutils 9.1 fails here).
put() {
  mkdir -p "$2$(dirname "$1")"
  cp -a "$1" "$2$(dirname "$1")/"
}

# Copy the role's host files into the stage at the same paths, with the shared libraries of every ELF file.
copy_host_files() {
  local role=$1 stage=$2 path lib
  host_files "$role" | while read -r path; do
    [ -e "$path" ] || { echo "stand-in images: $path missing (apt-get install mariadb-server postgresql)" >&2; return 1; }
    put "$path" "$stage"
    find "$path" -type f -print0 | while IFS= read -r -d '' file; do
      { ldd "$file" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
        if [ ! -e "$stage$lib" ]; then mkdir -p "$stage$(dirname "$lib")" && cp -L "$lib" "$stage$lib"; fi
      done
    done
  done
}

build_role() {
  local role=$1 tag=$2 hash current stage
  hash=$(role_hash "$role")
  current=$(docker image inspect --format '{{ index .Config.Labels "cloudfaster.standin" }}' "$tag" 2>/dev/null || true)
  if [ "$current" = "$hash" ]; then
    return 0
  fi
  if docker image inspect "$tag" >/dev/null 2>&1 && [ -z "$current" ]; then
    echo "stand-in images: $tag exists and is not a stand-in; keeping it"
    return 0
  fi
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' RETURN
  mkdir -p "$stage"/{bin,tmp,run,var/run,home/node,root,srv,config,database,app,var/lib/mysql,var/lib/postgresql,var/cache/nginx}
  cp "$busybox_bin" "$stage/bin/busybox"
  for applet in $("$busybox_bin" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$stage/bin/$applet"
  done
  cp -R "$here/common/rootfs/." "$stage/"
  cp -R "$here/$role/rootfs/." "$stage/"
  copy_host_files "$role" "$stage"
  # Every script of the stand-ins is executable (busybox itself already is).
  { grep -rlI '^#!' "$stage" || true; } | xargs -r chmod 0755
  chmod 1777 "$stage/tmp"
  chown -R 1000:1000 "$stage/home/node" "$stage/app" "$stage/srv" "$stage/config" "$stage/database"
  chown -R 999:999 "$stage/var/lib/mysql"
  chown -R 70:70 "$stage/var/lib/postgresql"
  local -a changes=(--change "LABEL cloudfaster.standin=$hash" --change "ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/bin")
  while IFS= read -r line; do
    [ -n "$line" ] && changes+=(--change "$line")
  done <"$here/$role/changes"
  tar -C "$stage" --numeric-owner -c . | docker import "${changes[@]}" - "$tag" >/dev/null
  echo "stand-in images: built $tag ($role)"
}

while read -r role tag; do
  case "$role" in ''|'#'*) continue ;; esac
  build_role "$role" "$tag"
done <"$here/images.txt"
