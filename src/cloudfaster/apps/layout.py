"""Where a service lives on disk: ``<base>/<owner>/<project>/`` with the compose file, env files, ``data/``
(the user's code, shared with Filebrowser) and ``filebrowser/`` (its database and config)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cloudfaster.apps.errors import LayoutError

_PROJECT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,59}")
_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
PROJECT_PREFIX = "cf-"


def project_name(service_id: str | int) -> str:
    """The compose project name for a service id (``cf-<id>``; lowercase letters, digits and dashes only)."""
    ident = str(service_id).lower()
    if not _PROJECT_ID.fullmatch(ident):
        raise LayoutError(f"service id {str(service_id)[:64]!r} cannot name a compose project")
    return PROJECT_PREFIX + ident


def validate_owner(owner: str) -> str:
    """Check a user id used as a directory name: letters, digits, ``_`` and ``-`` only."""
    if not _OWNER.fullmatch(owner):
        raise LayoutError(f"user id {owner[:64]!r} contains characters not allowed in a path")
    return owner


def validate_service_name(name: str) -> str:
    """Check a user-chosen service name: no path or shell characters, 1-63 characters."""
    if not _SERVICE_NAME.fullmatch(name) or ".." in name:
        raise LayoutError(
            "service_name must be 1-63 letters, digits, '.', '_' or '-', start with a letter or digit, "
            "and not contain '..'",
            code="service_name_invalid",
        )
    return name


def content_owner(uid: int, gid: int) -> tuple[int, int]:
    """The uid/gid for service files and containers: the configured one as root, else our own."""
    if os.geteuid() == 0:
        return uid, gid
    return os.getuid(), os.getgid()


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """Give a directory tree to uid:gid (no-op unless running as root); never follows symlinks."""
    if os.geteuid() != 0:
        return
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


@dataclass(frozen=True)
class ServiceLayout:
    """The paths of one service; nothing is created until ``create``."""

    root: Path
    project: str

    @classmethod
    def for_service(cls, base_path: Path, owner: str, service_id: str | int) -> ServiceLayout:
        """The layout of ``service_id`` owned by ``owner`` under ``base_path``."""
        project = project_name(service_id)
        root = Path(base_path).resolve() / validate_owner(owner) / project
        return cls(root=root, project=project)

    @property
    def compose_file(self) -> Path:
        """``docker-compose.yml``."""
        return self.root / "docker-compose.yml"

    @property
    def env_file(self) -> Path:
        """``.env``: the application's environment (also Compose's interpolation file)."""
        return self.root / ".env"

    @property
    def data_dir(self) -> Path:
        """``data/``: the user's code, mounted into the app and into Filebrowser at /srv."""
        return self.root / "data"

    @property
    def filebrowser_dir(self) -> Path:
        """``filebrowser/``: the sidecar's database and config."""
        return self.root / "filebrowser"

    def create(self, uid: int, gid: int) -> None:
        """Create the directory tree (idempotent); data/ and filebrowser/ belong to uid:gid."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o750)
        for path in (self.data_dir, self.filebrowser_dir / "database", self.filebrowser_dir / "config"):
            path.mkdir(parents=True, exist_ok=True, mode=0o755)
        chown_tree(self.filebrowser_dir, uid, gid)
        if os.geteuid() == 0:
            os.lchown(self.data_dir, uid, gid)

    def write_files(self, files: dict[str, str]) -> None:
        """Atomically write generated files given relative to the service root (env files get mode 0600)."""
        for relative, content in files.items():
            target = (self.root / relative).resolve()
            if not target.is_relative_to(self.root) or target == self.root:
                raise LayoutError(f"generated file {relative!r} escapes the service directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            mode = 0o600 if target.name.endswith(".env") else 0o644
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(content)
                os.chmod(tmp, mode)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def remove(self) -> None:
        """Delete the service directory and everything in it."""
        shutil.rmtree(self.root, ignore_errors=True)
