"""POST /access/ticket."""

from __future__ import annotations

from typing import Any

from pvesim.auth import make_csrf_token, make_ticket, verify_ticket
from pvesim.errors import PveError
from pvesim.routing import Call, RouteTable

table = RouteTable()

ROOT_USER = "root@pam"
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
