"""POST /access/ticket, GET /access/permissions."""

from __future__ import annotations

from typing import Any

from pvesim.auth import make_csrf_token, make_ticket, verify_ticket
from pvesim.config import TokenSpec
from pvesim.errors import PveError
from pvesim.permissions import ROOT_USER, effective_permissions, token_permissions
from pvesim.routing import Call, RouteTable

table = RouteTable()

# A subset of what AccessControl.pm `create_ticket` returns for root in `cap`.
ROOT_CAP: dict[str, Any] = {
    "vms": {"VM.Allocate": 1, "VM.Clone": 1, "VM.Config.CPU": 1, "VM.PowerMgmt": 1, "VM.Console": 1},
    "storage": {"Datastore.AllocateSpace": 1, "Datastore.Audit": 1},
    "nodes": {"Sys.Audit": 1, "Sys.Console": 1},
}


@table.route("POST", "/access/ticket")
def create_ticket(call: Call) -> dict[str, Any]:
    """Log in with root@pam's password (or renew with a ticket as the password)."""
    sim = call.sim
    username = str(call.params["username"])
    realm = call.params.get("realm")
    if "@" not in username and realm:
        username = f"{username}@{realm}"
    password = str(call.params["password"])
    valid = username == ROOT_USER and (
        password == sim.config.root_password or verify_ticket(sim.cluster.secret, password) == ROOT_USER
    )
    if not valid:
        raise PveError(401, "authentication failure")
    return {
        "username": ROOT_USER,
        "ticket": make_ticket(sim.cluster.secret, ROOT_USER),
        "CSRFPreventionToken": make_csrf_token(sim.cluster.secret, ROOT_USER),
        "clustername": sim.config.cluster_name,
        "cap": ROOT_CAP,
    }


def _subject(call: Call, userid: str) -> TokenSpec:
    """What holds the rights of `userid`, a user or a full token id."""
    user, _, name = userid.partition("!")
    specs = call.sim.config.tokens
    if name:
        for spec in specs:
            if spec.user == user and spec.name == name:
                return spec
        return TokenSpec(user=user, name=name, privsep=True)  # an unknown token has no privileges
    # The simulator knows a user's ACLs only through the `user_acl` of their tokens.
    user_acl = next((spec.user_acl for spec in specs if spec.user == user), {})
    return TokenSpec(user=user, name="", user_acl=user_acl)


@table.route("GET", "/access/permissions")
def permissions(call: Call) -> dict[str, dict[str, int]]:
    """The caller's effective permissions, or those of `userid` (pve-access-control API2/AccessControl.pm).

    Anyone may dump their own permissions and those of their own tokens; others need Sys.Audit on /access.
    With `path`, only that path is answered (under the path as given, even with no privilege there).
    """
    me = call.identity.task_user if call.identity else ROOT_USER
    userid = str(call.params.get("userid") or me)
    mine = userid == me or userid.partition("!")[0] == me
    if not mine and "Sys.Audit" not in token_permissions(_subject(call, me), "/access"):
        raise PveError(403, "Permission check failed (/access, Sys.Audit)")
    subject = _subject(call, userid)
    path = call.params.get("path")
    if path:
        return {str(path): token_permissions(subject, str(path))}
    return effective_permissions(subject)
