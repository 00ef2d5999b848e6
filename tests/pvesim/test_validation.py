"""Parameter validation from the official schema, with PVE's 400 body and error texts."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, quote_plus

from pvesim.testing import PveSim

from tests.pvesim.pvesim_helpers import pve_error, raw, wait

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host"


def test_unknown_parameter(px: Any) -> None:
    error = pve_error(lambda: px.nodes("sv1").qemu.get(bogus=1), 400, "Parameter verification failed.")
    assert error.errors == {
        "bogus": "property is not defined in schema and the schema does not allow additional properties"
    }


def test_400_body_has_message_and_errors(sim: PveSim) -> None:
    response = raw(sim, "PUT", "/nodes/sv1/qemu/9000/config", data={"cores": "x"})
    assert (response.status_code, response.reason) == (400, "Parameter verification failed.")
    assert response.json() == {
        "data": None,
        "message": "Parameter verification failed.\n",
        "errors": {"cores": "type check ('integer') failed - got 'x'"},
    }
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"


def test_python_true_is_rejected(px: Any) -> None:
    # proxmoxer sends True as "True"; PVE accepts only 1/0 (JSONSchema.pm check_type).
    error = pve_error(
        lambda: px.nodes("sv1").qemu(9000).clone.post(newid=101, full=True), 400, "Parameter verification failed."
    )
    assert error.errors == {"full": "type check ('boolean') failed - got 'True'"}


def test_missing_required_parameter(px: Any) -> None:
    error = pve_error(lambda: px.nodes("sv1").qemu(9000).clone.post(), 400, "Parameter verification failed.")
    assert error.errors == {"newid": "property is missing and it is not optional"}


def test_minimum_enum_pattern_and_property_string(px: Any) -> None:
    vm = px.nodes("sv1").qemu(9000)
    error = pve_error(lambda: vm.clone.post(newid=99), 400, "Parameter verification failed.")
    # The pve-vmid format check runs before the minimum check (JSONSchema.pm check_prop).
    assert error.errors == {"newid": "invalid format - value does not look like a valid VM ID\n"}
    error = pve_error(lambda: vm.config.put(cores=0), 400, "Parameter verification failed.")
    assert error.errors == {"cores": "value must have a minimum value of 1"}
    error = pve_error(lambda: vm.resize.put(disk="scsi0", size="-1G"), 400, "Parameter verification failed.")
    assert error.errors == {"size": "value does not match the regex pattern"}
    error = pve_error(lambda: vm.resize.put(disk="nvme0", size="1G"), 400, "Parameter verification failed.")
    assert error.errors["disk"].startswith("value 'nvme0' does not have a value in the enumeration 'ide0, ide1,")
    error = pve_error(lambda: vm.config.put(memory="current=8"), 400, "Parameter verification failed.")
    assert error.errors == {
        "memory": "invalid format - format error\nmemory.current: value must have a minimum value of 16\n"
    }
    error = pve_error(lambda: vm.config.put(net0="virtio,bridge=vmbr0,speed=1"), 400, "Parameter verification failed.")
    assert error.errors == {"net0": "invalid format - invalid key in comma-separated list property: speed\n"}
    error = pve_error(lambda: vm.config.put(name="bad_name"), 400, "Parameter verification failed.")
    assert error.errors == {"name": "invalid format - value does not look like a valid DNS name\n"}
    error = pve_error(lambda: vm.config.put(ipconfig0="ip=10.0.0.5"), 400, "Parameter verification failed.")
    assert error.errors["ipconfig0"].startswith("invalid format - format error\nipconfig0.ip: invalid format")


def test_numbered_parameters_have_limits(px: Any) -> None:
    error = pve_error(
        lambda: px.nodes("sv1").qemu(9000).config.put(net32="virtio"), 400, "Parameter verification failed."
    )
    assert error.errors == {
        "net32": "property is not defined in schema and the schema does not allow additional properties"
    }


def test_sshkeys_must_be_percent_encoded(sim: PveSim, px: Any) -> None:
    wait(px, px.nodes("sv1").qemu(9000).clone.post(newid=101))
    vm = px.nodes("sv1").qemu(101)
    error = pve_error(lambda: vm.config.put(sshkeys=quote_plus(KEY)), 400, "Parameter verification failed.")
    assert error.errors == {"sshkeys": f"invalid format - invalid urlencoded string: {quote_plus(KEY)}\n"}
    pve_error(lambda: vm.config.put(sshkeys=quote("not a key", safe="")), 500, "SSH public key validation error")
    encoded = quote(KEY, safe="")
    assert vm.config.put(sshkeys=encoded) is None
    assert vm.config.get()["sshkeys"] == encoded


def test_nextid_is_a_string_and_probe_answers_400(px: Any) -> None:
    assert px.cluster.nextid.get() == "100"
    assert px.cluster.nextid.get(vmid=4242) == "4242"
    error = pve_error(lambda: px.cluster.nextid.get(vmid=9000), 400, "Parameter verification failed.")
    assert error.errors == {"vmid": "VM 9000 already exists"}


def test_json_body_accepts_json_booleans(sim: PveSim) -> None:
    response = raw(sim, "POST", "/nodes/sv1/qemu/9000/clone", json={"newid": 140, "full": True})
    assert response.status_code == 200
    assert response.json()["data"].startswith("UPID:sv1:")


def test_unknown_path_is_501(sim: PveSim, px: Any) -> None:
    pve_error(lambda: px.nodes("sv1").foo.get(), 501, "Method 'GET /nodes/sv1/foo' not implemented")


def test_get_with_body_is_501(sim: PveSim) -> None:
    response = raw(sim, "GET", "/version", data={"a": "b"})
    assert (response.status_code, response.reason) == (501, "Unexpected content for method 'GET'")


def test_url_parameter_conflict(sim: PveSim) -> None:
    response = raw(sim, "GET", "/nodes/sv1/qemu/9000/config?vmid=9001")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "vmid": "duplicate parameter (already defined in URI) with conflicting values!"
    }
