"""Unit tests of the Proxmox VE client's edge: error classification and wire encodings."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from cloudfaster.proxmox.client import ApiToken, ClientOptions, NodeAddress, ProxmoxCluster
from cloudfaster.proxmox.encoding import as_int, encode_sshkeys, pve_bool, upid_node
from cloudfaster.proxmox.errors import (
    ProxmoxAlreadyExistsError,
    ProxmoxAuthFailedError,
    ProxmoxLockedError,
    ProxmoxNodeDownError,
    ProxmoxNotRunningError,
    ProxmoxRefusedError,
    ProxmoxTransientError,
    ProxmoxVmMissingError,
    classify,
)


@pytest.mark.parametrize(
    ("status", "reason", "errors", "expected"),
    [
        (595, "No route to host", None, ProxmoxNodeDownError),
        (401, "Authentication failed!", None, ProxmoxAuthFailedError),
        (500, "VM is locked (clone)", None, ProxmoxLockedError),
        (500, "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout", None, ProxmoxLockedError),
        (500, "unable to create VM 101: config file already exists", None, ProxmoxAlreadyExistsError),
        (400, "Parameter verification failed.", {"vmid": "VM 100 already exists"}, ProxmoxAlreadyExistsError),
        (500, "Configuration file 'nodes/sv1/qemu-server/101.conf' does not exist", None, ProxmoxVmMissingError),
        (500, "VM 101 not running", None, ProxmoxNotRunningError),
        (500, "VM 101 is running - destroy failed", None, ProxmoxRefusedError),
        (400, "Parameter verification failed.", {"cores": "type check"}, ProxmoxRefusedError),
        (500, "cluster not ready - no quorum?", None, ProxmoxTransientError),
        (503, "Service Unavailable", None, ProxmoxTransientError),
    ],
)
def test_classify(status: int, reason: str, errors: object, expected: type) -> None:
    assert type(classify(status, reason, errors)) is expected


def test_wire_encodings() -> None:
    keys = ["ssh-ed25519 AAAA a@b", "ssh-rsa BBBB+/= c d"]
    encoded = encode_sshkeys(keys)
    assert "+" not in encoded.replace("%2B", "")
    assert " " not in encoded
    assert "%20" in encoded
    assert "%0A" in encoded
    assert unquote(encoded).splitlines() == keys
    assert pve_bool(True) == 1
    assert pve_bool(False) == 0
    assert as_int("101") == 101
    assert as_int(101) == 101
    assert upid_node("UPID:sv2:0001:0002:0003:qmclone:9000:root@pam!cf:") == "sv2"


def test_the_client_takes_plain_values_and_needs_a_node() -> None:
    token = ApiToken("root@pam!cf", "secret")
    with pytest.raises(ValueError, match="no Proxmox VE node"):
        ProxmoxCluster([], token)
    cluster = ProxmoxCluster([NodeAddress("pve1", "10.0.0.1")], token, ClientOptions(verify=False))
    assert cluster.api_host("pve1") == ("10.0.0.1", 8006)
    assert "secret" not in repr(token)
