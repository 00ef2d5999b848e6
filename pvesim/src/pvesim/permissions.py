"""Effective permissions of a user or API token (pve-access-control PVE/RPCEnvironment.pm `permissions`).

The simulator keeps ACLs per token (`TokenSpec.acl`, `TokenSpec.user_acl`) as path -> privileges, always
propagated: a privilege set on `/vms` holds on `/vms/101` too (AccessControl.pm `roles` walks every ACL path that
is a prefix of the checked one). Roles, groups, pools, NoAccess and non-propagated ACLs are not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable

from pvesim.config import TokenSpec

ROOT_USER = "root@pam"

# Every privilege PVE knows (AccessControl.pm `$privgroups`); root@pam and the Administrator role hold them all.
ALL_PRIVILEGES: tuple[str, ...] = (
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Group.Allocate",
    "Permissions.Modify",
    "Pool.Allocate",
    "Pool.Audit",
    "Realm.Allocate",
    "Realm.AllocateUser",
    "SDN.Allocate",
    "SDN.Audit",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Sys.Syslog",
    "User.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.Migrate",
    "VM.Monitor",
    "VM.PowerMgmt",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
)

# RPCEnvironment.pm `get_effective_permissions`: these paths are always looked at, besides every ACL path.
TOP_PATHS = ("/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms")


def normalize_path(path: str) -> str:
    """Collapse slashes and drop a trailing one, as AccessControl.pm `normalize_path` does."""
    parts = [part for part in path.split("/") if part]
    return "/" + "/".join(parts)


def _covers(acl_path: str, path: str) -> bool:
    acl_path = normalize_path(acl_path)
    return acl_path == "/" or path == acl_path or path.startswith(acl_path + "/")


def _privs_from(acl: dict[str, list[str]], path: str) -> set[str]:
    found: set[str] = set()
    for acl_path, privileges in acl.items():
        if _covers(acl_path, path):
            found.update(privileges)
    return found


def user_permissions(token: TokenSpec, path: str) -> dict[str, int]:
    """The privileges of the token's user on `path` (privilege -> propagate flag)."""
    if token.user == ROOT_USER:
        return dict.fromkeys(ALL_PRIVILEGES, 1)
    return dict.fromkeys(sorted(_privs_from(token.user_acl, normalize_path(path))), 1)


def token_permissions(token: TokenSpec, path: str) -> dict[str, int]:
    """The token's privileges on `path`: the user's, intersected with the token's own ACLs when privsep is on.

    As in `compile_acl_path`, the intersection is skipped for root@pam's tokens: a privsep token of root has
    exactly its own ACLs.
    """
    path = normalize_path(path)
    if not token.privsep:
        return user_permissions(token, path)
    own = _privs_from(token.acl, path)
    if token.user != ROOT_USER:
        own &= set(user_permissions(token, path))
    return dict.fromkeys(sorted(own), 1)


def effective_permissions(token: TokenSpec) -> dict[str, dict[str, int]]:
    """Every path with at least one privilege (the answer of `GET /access/permissions` without `path`)."""
    paths: Iterable[str] = {*TOP_PATHS, *map(normalize_path, token.acl), *map(normalize_path, token.user_acl)}
    result = {path: token_permissions(token, path) for path in sorted(paths)}
    return {path: privs for path, privs in result.items() if privs}
