#!/usr/bin/env bash
# Builds the tier-1 stand-in images (busybox-static + a few scripts, `docker import`) and tags them exactly like the
# images the compose templates use (images.txt). See /work/shared/notes/test-rig.md "Images without a registry".
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

# The label value changes whenever a stand-in's files or the busybox binary change, so edits trigger a rebuild.
role_hash() {
  (cd "$here" && find build.sh common "$1" -type f -print0 | sort -z | xargs -0 sha256sum; sha256sum "$busybox_bin" | cut -d" " -f1) \
    | sha256sum | cut -c1-16
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
