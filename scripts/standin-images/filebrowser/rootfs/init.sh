#!/bin/sh
# Stand-in for filebrowser/filebrowser: copies default settings to /config like the real /init.sh, does the quick
# setup on a fresh /database (FB_USERNAME plus FB_PASSWORD, which must be a bcrypt hash as --password expects),
# then answers HTTP on FB_PORT (default 80) with /health like the real server.
set -e
[ -f /config/settings.json ] || cp /defaults/settings.json /config/settings.json
db=${FB_DATABASE:-/database/filebrowser.db}
if [ ! -f "$db" ]; then
  user=${FB_USERNAME:-admin}
  case "$FB_PASSWORD" in
    '') echo "User '$user' initialized with randomly generated password: (stand-in)" ;;
    '$2a$'*|'$2b$'*|'$2y$'*)
      [ ${#FB_PASSWORD} -eq 60 ] || { echo "filebrowser stand-in: FB_PASSWORD is not a bcrypt hash" >&2; exit 1; } ;;
    *) echo "filebrowser stand-in: FB_PASSWORD must be a bcrypt hash, got something else" >&2; exit 1 ;;
  esac
  printf 'user=%s\nhash=%s\n' "$user" "$FB_PASSWORD" > "$db"
fi
[ -d /srv ] || { echo "filebrowser stand-in: /srv missing" >&2; exit 1; }
echo "filebrowser stand-in: listening on ${FB_PORT:-80}, root /srv"
exec httpd -f -p "${FB_PORT:-80}" -h /srv-standin
