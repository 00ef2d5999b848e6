"""GET /access/permissions: the token's user's rights, intersected with the token's own under privsep."""

from __future__ import annotations

from typing import Any

from pvesim.config import SimConfig, TokenSpec
from pvesim.permissions import ALL_PRIVILEGES
from pvesim.testing import start_pvesim

from tests.pvesim.pvesim_helpers import pve_error

STUDENT_ACL = {"/vms": ["VM.Audit", "VM.PowerMgmt", "VM.Clone"], "/storage/local-lvm": ["Datastore.AllocateSpace"]}


def _config(*tokens: TokenSpec) -> SimConfig:
    config = SimConfig.fast()
    config.tokens = list(tokens)
    return config


def test_root_token_without_privsep_has_every_privilege(px: Any) -> None:
    perms = px.access.permissions.get()
    assert set(perms["/"]) == set(ALL_PRIVILEGES)
    assert set(perms) >= {"/", "/vms", "/storage", "/nodes", "/access"}
    assert px.access.permissions.get(path="/vms/101") == {"/vms/101": dict.fromkeys(ALL_PRIVILEGES, 1)}


def test_privsep_token_is_the_intersection_with_its_user() -> None:
    token = TokenSpec(
        user="cf@pve", name="ops", secret="s3", privsep=True, user_acl=STUDENT_ACL,
        acl={"/": ["VM.Audit", "VM.PowerMgmt", "Sys.Audit"]},
    )  # fmt: skip
    with start_pvesim(_config(token)) as sim:
        perms = sim.proxmox().access.permissions.get()
    # Sys.Audit is the token's only (the user lacks it); VM.Clone the user's only: neither is effective.
    assert perms == {"/vms": {"VM.Audit": 1, "VM.PowerMgmt": 1}}


def test_token_without_privsep_has_its_users_rights_and_root_privsep_only_its_own() -> None:
    plain = TokenSpec(user="cf@pve", name="plain", secret="s1", user_acl=STUDENT_ACL)
    rooted = TokenSpec(user="root@pam", name="narrow", secret="s2", privsep=True, acl={"/nodes": ["Sys.Audit"]})
    with start_pvesim(_config(plain, rooted)) as sim:
        mine = sim.proxmox().access.permissions.get(path="/vms/4242")
        narrow = sim.proxmox(user="root@pam", token_name="narrow", token_value="s2").access.permissions.get()
    assert mine == {"/vms/4242": {"VM.Audit": 1, "VM.Clone": 1, "VM.PowerMgmt": 1}}
    assert narrow == {"/nodes": {"Sys.Audit": 1}}


def test_other_users_need_sys_audit_on_access() -> None:
    token = TokenSpec(user="cf@pve", name="plain", secret="s1", user_acl=STUDENT_ACL)
    with start_pvesim(_config(token, TokenSpec())) as sim:
        px = sim.proxmox()
        denied = "Permission check failed (/access, Sys.Audit)"
        pve_error(lambda: px.access.permissions.get(userid="root@pam"), 403, denied)
        assert px.access.permissions.get(userid="cf@pve!plain", path="/storage/local-lvm") == {
            "/storage/local-lvm": {"Datastore.AllocateSpace": 1}
        }
        root = sim.proxmox(user="root@pam", token_name="cloudfaster", token_value=TokenSpec().secret)
        assert root.access.permissions.get(userid="cf@pve")["/vms"] == {"VM.Audit": 1, "VM.Clone": 1, "VM.PowerMgmt": 1}


def test_userid_is_validated_from_the_schema(px: Any) -> None:
    pve_error(lambda: px.access.permissions.get(userid="not a user"), 400, "Parameter verification failed.")
