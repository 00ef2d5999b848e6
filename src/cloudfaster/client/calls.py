"""Every public route as a ``Call``: the one place that knows paths, parameters and answer models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloudfaster.client._core import Call, Upload, UploadProgress, model, nothing
from cloudfaster.client.admin_models import (
    AuditEvent,
    Key,
    KeyCreated,
    Pool,
    Quota,
    Size,
    User,
    UserDeletion,
    UsersBulkResult,
)
from cloudfaster.client.models import (
    ConsoleLink,
    Deployment,
    Domain,
    Env,
    LogLines,
    Operation,
    OsCatalog,
    Page,
    PasswordRotation,
    ReconcileResult,
    Service,
    ServiceCreated,
    Vm,
    Webhook,
)

POWER_ACTIONS = ("start", "stop", "shutdown", "reboot", "suspend", "resume")
SERVICE_ACTIONS = ("start", "stop", "restart")


def _body(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def vm_os() -> Call[OsCatalog]:
    """``GET /vm/os``: OS names, nodes, and per OS its login user and smallest disk."""
    return Call("GET", "/vm/os", model(OsCatalog))


def vm_list(*, limit: int | None = None, cursor: str | None = None, **filters: str | None) -> Call[Page[Vm]]:
    """``GET /vm``."""
    return Call("GET", "/vm", model(Page[Vm]), params={"limit": limit, "cursor": cursor, **filters})


def vm_get(vmid: int) -> Call[Vm]:
    """``GET /vm/{vmid}``."""
    return Call("GET", f"/vm/{vmid}", model(Vm))


def vm_create(spec: dict[str, Any], *, wait: float | None = None, idempotency_key: str | None = None) -> Call[Vm]:
    """``POST /vm``."""
    return Call(
        "POST", "/vm", model(Vm), params={"wait": wait}, json=_body(**spec), idempotent=True,
        idempotency_key=idempotency_key,
    )  # fmt: skip


def vm_update(vmid: int, changes: dict[str, Any], *, idempotency_key: str | None = None) -> Call[Vm]:
    """``PATCH /vm/{vmid}``."""
    return Call(
        "PATCH", f"/vm/{vmid}", model(Vm), json=_body(**changes), idempotent=True, idempotency_key=idempotency_key
    )


def vm_delete(vmid: int, *, idempotency_key: str | None = None) -> Call[Vm]:
    """``DELETE /vm/{vmid}``."""
    return Call("DELETE", f"/vm/{vmid}", model(Vm), idempotent=True, idempotency_key=idempotency_key)


def vm_power(vmid: int, action: str, options: dict[str, Any] | None = None) -> Call[Vm]:
    """``POST /vm/{vmid}/{action}``."""
    if action not in POWER_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(POWER_ACTIONS)}")
    body = _body(**options) if options else None
    return Call("POST", f"/vm/{vmid}/{action}", model(Vm), json=body or None, idempotent=True)


def vm_console(vmid: int, kind: str = "vnc") -> Call[ConsoleLink]:
    """``POST /vm/{vmid}/console`` (vnc or term)."""
    return Call("POST", f"/vm/{vmid}/console", model(ConsoleLink), json={"type": kind})


def vm_reconcile() -> Call[ReconcileResult]:
    """``POST /vm/reconcile`` (admin)."""
    return Call("POST", "/vm/reconcile", model(ReconcileResult))


def op_get(op_id: str, *, wait: float | None = None) -> Call[Operation]:
    """``GET /operations/{id}``; ``wait`` blocks server-side until it ends."""
    return Call("GET", f"/operations/{op_id}", model(Operation), params={"wait": wait})


def op_list(*, limit: int | None = None, cursor: str | None = None, state: str | None = None) -> Call[Page[Operation]]:
    """``GET /operations``."""
    return Call("GET", "/operations", model(Page[Operation]), params={"limit": limit, "cursor": cursor, "state": state})


def _source_form(
    zip_path: Path | None, git_url: str | None, git_ref: str | None, progress: UploadProgress | None
) -> tuple[dict[str, Any], list[Upload]]:
    data = _body(git_repo_url=git_url, git_ref=git_ref)
    uploads = [Upload("zip_file", Path(zip_path), progress=progress)] if zip_path is not None else []
    return data, uploads


def service_create(
    name: str,
    types: list[str],
    *,
    zip_path: Path | None = None,
    git_url: str | None = None,
    git_ref: str | None = None,
    env: str | None = None,
    userid: str | None = None,
    publish_database: bool = False,
    wait: float | None = None,
    progress: UploadProgress | None = None,
    idempotency_key: str | None = None,
) -> Call[ServiceCreated]:
    """``POST /service`` (multipart, the ZIP streamed from disk)."""
    data, uploads = _source_form(zip_path, git_url, git_ref, progress)
    published = "true" if publish_database else None
    data.update(_body(service_name=name, service_types=types, env=env, userid=userid, publish_database=published))
    return Call(
        "POST", "/service", model(ServiceCreated), params={"wait": wait}, data=data, uploads=uploads,
        idempotent=True, idempotency_key=idempotency_key,
    )  # fmt: skip


def service_deploy(
    service_id: int,
    *,
    zip_path: Path | None = None,
    git_url: str | None = None,
    git_ref: str | None = None,
    progress: UploadProgress | None = None,
) -> Call[Service]:
    """``POST /service/{id}/deploy``."""
    data, uploads = _source_form(zip_path, git_url, git_ref, progress)
    return Call("POST", f"/service/{service_id}/deploy", model(Service), data=data, uploads=uploads, idempotent=True)


def service_list(
    *, limit: int | None = None, cursor: str | None = None, include_deleted: bool | None = None
) -> Call[Page[Service]]:
    """``GET /service``."""
    params = {"limit": limit, "cursor": cursor, "include_deleted": include_deleted}
    return Call("GET", "/service", model(Page[Service]), params=params)


def service_get(service_id: int) -> Call[Service]:
    """``GET /service/{id}``."""
    return Call("GET", f"/service/{service_id}", model(Service))


def service_action(service_id: int, action: str) -> Call[Service]:
    """``POST /service/{id}/{start|stop|restart}``."""
    if action not in SERVICE_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(SERVICE_ACTIONS)}")
    return Call("POST", f"/service/{service_id}/{action}", model(Service), idempotent=True)


def service_delete(service_id: int) -> Call[Service]:
    """``DELETE /service/{id}``."""
    return Call("DELETE", f"/service/{service_id}", model(Service), idempotent=True)


def service_logs(service_id: int, *, tail: int | None = None, container: str | None = None) -> Call[LogLines]:
    """``GET /service/{id}/logs``."""
    params = {"tail": tail, "container": container}
    return Call("GET", f"/service/{service_id}/logs", model(LogLines), params=params)


def service_logs_follow(service_id: int, *, tail: int | None = None, container: str | None = None) -> Call[None]:
    """``GET /service/{id}/logs?follow=true`` (Server-Sent Events; read with the client's ``follow``)."""
    params = {"follow": "true", "tail": tail, "container": container}
    return Call("GET", f"/service/{service_id}/logs", nothing, params=params, stream=True)


def domain_list(service_id: int) -> Call[list[Domain]]:
    """``GET /service/{id}/domains``."""
    return Call("GET", f"/service/{service_id}/domains", model(list[Domain]))


def domain_add(service_id: int, hostname: str) -> Call[Domain]:
    """``POST /service/{id}/domains``."""
    return Call("POST", f"/service/{service_id}/domains", model(Domain), json={"hostname": hostname})


def domain_remove(service_id: int, hostname: str) -> Call[None]:
    """``DELETE /service/{id}/domains/{hostname}``."""
    return Call("DELETE", f"/service/{service_id}/domains/{hostname}", nothing)


def user_create(userid: str, username: str) -> Call[User]:
    """``POST /users`` (admin)."""
    return Call("POST", "/users", model(User), json={"userid": userid, "username": username})


def user_list(*, limit: int | None = None, cursor: str | None = None) -> Call[Page[User]]:
    """``GET /users`` (admin)."""
    return Call("GET", "/users", model(Page[User]), params={"limit": limit, "cursor": cursor})


def user_get(userid: str) -> Call[User]:
    """``GET /users/{userid}``."""
    return Call("GET", f"/users/{userid}", model(User))


def user_delete(userid: str, *, cascade: bool = False) -> Call[UserDeletion | None]:
    """``DELETE /users/{userid}`` (admin); ``cascade`` deletes their VMs and services first, as an operation."""
    parse = model(UserDeletion) if cascade else nothing
    return Call("DELETE", f"/users/{userid}", parse, params={"cascade": "true" if cascade else None})


def users_bulk(users: list[tuple[str, str]], *, keys: bool = False) -> Call[UsersBulkResult]:
    """``POST /users/bulk`` (admin): ``(userid, username)`` pairs, each created or reported on its own."""
    body = {"users": [{"userid": u, "username": n} for u, n in users], "keys": keys}
    return Call("POST", "/users/bulk", model(UsersBulkResult), json=body)


def quota_get(userid: str) -> Call[Quota]:
    """``GET /users/{userid}/quota``."""
    return Call("GET", f"/users/{userid}/quota", model(Quota))


def quota_set(userid: str, limits: dict[str, int | None]) -> Call[Quota]:
    """``PUT /users/{userid}/quota`` (admin); a limit set to None goes back to the default."""
    return Call("PUT", f"/users/{userid}/quota", model(Quota), json=limits)


def key_create(
    *, userid: str | None = None, name: str = "", admin: bool = False, expires_at: str | None = None
) -> Call[KeyCreated]:
    """``POST /keys``."""
    body = _body(userid=userid, name=name, admin=admin or None, expires_at=expires_at)
    return Call("POST", "/keys", model(KeyCreated), json=body)


def key_list(*, limit: int | None = None, cursor: str | None = None) -> Call[Page[Key]]:
    """``GET /keys``."""
    return Call("GET", "/keys", model(Page[Key]), params={"limit": limit, "cursor": cursor})


def key_get(prefix: str) -> Call[Key]:
    """``GET /keys/{prefix}``."""
    return Call("GET", f"/keys/{prefix}", model(Key))


def key_revoke(prefix: str) -> Call[Key]:
    """``DELETE /keys/{prefix}``."""
    return Call("DELETE", f"/keys/{prefix}", model(Key))


def audit_list(*, limit: int | None = None, cursor: str | None = None, **filters: str | None) -> Call[Page[AuditEvent]]:
    """``GET /audit`` (admin)."""
    return Call("GET", "/audit", model(Page[AuditEvent]), params={"limit": limit, "cursor": cursor, **filters})


def size_list() -> Call[list[Size]]:
    """``GET /sizes``."""
    return Call("GET", "/sizes", model(list[Size]))


def size_put(name: str, *, cores: int, memory: int, disk: int, description: str = "") -> Call[Size]:
    """``PUT /sizes/{name}`` (admin): create or replace a size."""
    body = {"cores": cores, "memory": memory, "disk": disk, "description": description}
    return Call("PUT", f"/sizes/{name}", model(Size), json=body)


def size_delete(name: str) -> Call[None]:
    """``DELETE /sizes/{name}`` (admin)."""
    return Call("DELETE", f"/sizes/{name}", nothing)


def pool_create(spec: dict[str, Any]) -> Call[Pool]:
    """``POST /pools`` (admin)."""
    return Call("POST", "/pools", model(Pool), json=_body(**spec))


def pool_list() -> Call[list[Pool]]:
    """``GET /pools`` (admin)."""
    return Call("GET", "/pools", model(list[Pool]))


def pool_get(name: str) -> Call[Pool]:
    """``GET /pools/{name}`` (admin), with which VM holds each address."""
    return Call("GET", f"/pools/{name}", model(Pool))


def pool_update(name: str, changes: dict[str, Any]) -> Call[Pool]:
    """``PATCH /pools/{name}`` (admin)."""
    return Call("PATCH", f"/pools/{name}", model(Pool), json=changes)


def pool_delete(name: str) -> Call[None]:
    """``DELETE /pools/{name}`` (admin)."""
    return Call("DELETE", f"/pools/{name}", nothing)


def db_export(service_id: int, *, engine: str | None = None, wait: float | None = None) -> Call[Service]:
    """``POST /service/{id}/database/export`` (the operation's result names the download)."""
    params = {"engine": engine, "wait": wait}
    return Call("POST", f"/service/{service_id}/database/export", model(Service), params=params, idempotent=True)


def db_export_download(service_id: int, operation_id: str) -> Call[bytes]:
    """``GET /service/{id}/database/exports/{operation}``: the ``.sql.gz``."""
    return Call("GET", f"/service/{service_id}/database/exports/{operation_id}", lambda response: response.content)


def db_import(service_id: int, dump: Path, *, engine: str | None = None, wait: float | None = None) -> Call[Service]:
    """``POST /service/{id}/database/import`` (a ``.sql`` or ``.sql.gz``, streamed from disk)."""
    return Call(
        "POST", f"/service/{service_id}/database/import", model(Service), params={"wait": wait},
        data=_body(engine=engine), uploads=[Upload("dump", Path(dump))], idempotent=True,
    )  # fmt: skip


def db_rotate_password(service_id: int, *, wait: float | None = None) -> Call[PasswordRotation]:
    """``POST /service/{id}/database/rotate-password`` (the new password, shown once)."""
    return Call(
        "POST", f"/service/{service_id}/database/rotate-password", model(PasswordRotation), params={"wait": wait},
        idempotent=True,
    )  # fmt: skip


def db_publish(service_id: int, *, engine: str | None = None, wait: float | None = None) -> Call[Service]:
    """``POST /service/{id}/database/publish``: its port on the bind address, for a desktop client."""
    params = {"engine": engine, "wait": wait}
    return Call("POST", f"/service/{service_id}/database/publish", model(Service), params=params, idempotent=True)


def db_unpublish(service_id: int, *, engine: str | None = None, wait: float | None = None) -> Call[Service]:
    """``POST /service/{id}/database/unpublish``."""
    params = {"engine": engine, "wait": wait}
    return Call("POST", f"/service/{service_id}/database/unpublish", model(Service), params=params, idempotent=True)


def deployment_list(service_id: int, *, limit: int | None = None, cursor: str | None = None) -> Call[Page[Deployment]]:
    """``GET /service/{id}/deployments``."""
    params = {"limit": limit, "cursor": cursor}
    return Call("GET", f"/service/{service_id}/deployments", model(Page[Deployment]), params=params)


def deployment_rollback(service_id: int, number: int, *, wait: float | None = None) -> Call[Service]:
    """``POST /service/{id}/deployments/{n}/rollback``."""
    return Call(
        "POST", f"/service/{service_id}/deployments/{number}/rollback", model(Service), params={"wait": wait},
        idempotent=True,
    )  # fmt: skip


def env_get(service_id: int) -> Call[Env]:
    """``GET /service/{id}/env``."""
    return Call("GET", f"/service/{service_id}/env", model(Env))


def env_put(service_id: int, variables: list[dict[str, Any]]) -> Call[Env]:
    """``PUT /service/{id}/env`` (every variable; a secret with a null value keeps its stored one)."""
    return Call("PUT", f"/service/{service_id}/env", model(Env), json={"variables": variables})


def webhook_create(service_id: int) -> Call[Webhook]:
    """``PUT /service/{id}/webhook`` (a new URL and secret, shown once)."""
    return Call("PUT", f"/service/{service_id}/webhook", model(Webhook))


def webhook_remove(service_id: int) -> Call[None]:
    """``DELETE /service/{id}/webhook``."""
    return Call("DELETE", f"/service/{service_id}/webhook", nothing)
