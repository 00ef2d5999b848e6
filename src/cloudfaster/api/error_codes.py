"""Every error code the API answers, once, with its HTTP status and meaning: the one source of docs/errors.md and of
the error table in the OpenAPI document (``python -m cloudfaster.api.error_codes > docs/errors.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One stable error code: the status it comes with and what it means for the caller."""

    code: str
    status: int
    meaning: str


def _table(*rows: tuple[str, int, str]) -> tuple[ErrorCode, ...]:
    return tuple(ErrorCode(code, status, meaning) for code, status, meaning in rows)


ERROR_CODES = _table(
    # Requests the API cannot take as they are.
    ("bad_request", 400, "The request is malformed (for example a multipart body that cannot be parsed)."),
    ("invalid_cursor", 400, "`cursor` is not one this API returned: pass `next_cursor` back unchanged."),
    ("validation_failed", 422, "A field is missing, of the wrong type or out of range; `details` lists each one."),
    ("unknown_field", 422, "A multipart field the route does not take (misspelled?); `details.allowed` lists them."),
    ("duplicate_field", 422, "A multipart field sent twice that takes one value (two `zip_file` parts, say)."),
    ("invalid_value", 422, "A value does not fit what the database can store."),
    ("unsupported_media_type", 415, "The body's content type is not what the route takes (see the message)."),
    ("payload_too_large", 413, "The request body is over `CLOUDFASTER_MAX_BODY_BYTES` (JSON: `MAX_JSON_BODY_BYTES`)."),
    ("method_not_allowed", 405, "The path exists, but not with this HTTP method."),
    ("not_acceptable", 406, "The response cannot be given in a type the `Accept` header allows."),
    ("http_error", 400, "Another HTTP-level refusal; the message says which."),
    # Who is calling.
    ("unauthorized", 401, "Authentication failed."),
    ("missing_api_key", 401, "No `X-API-Key` header."),
    ("invalid_api_key", 401, "The API key is unknown."),
    ("revoked_api_key", 401, "The API key was revoked."),
    ("no_session", 401, "No dashboard session: sign in with an API key (`POST /session`)."),
    ("invalid_session", 401, "The dashboard session is unknown, signed out, or its key was revoked: sign in again."),
    ("session_expired", 401, "The dashboard session has expired: sign in again."),
    ("expired_api_key", 401, "The API key has expired."),
    ("forbidden", 403, "The key may not do this."),
    ("admin_required", 403, "Only an admin key may do this."),
    ("csrf_token_invalid", 403, "A write made with the session cookie lacks the `X-CSRF-Token` of that session."),
    ("userid_required", 403, "An admin key acting for a user must name its `userid` (or set `admin=true` on keys)."),
    ("other_user", 403, "A user key may act only for its own user."),
    ("admin_key_with_userid", 422, "An admin key is not bound to a user: leave `userid` out."),
    ("expiry_in_past", 422, "`expires_at` must lie in the future."),
    ("last_admin_key", 409, "The last admin key that does not expire cannot be revoked: create another one first."),
    ("rate_limited", 429, "Too many requests for this key; wait for `Retry-After` seconds."),
    # Resources.
    ("not_found", 404, "No such route or resource, or it belongs to another user."),
    ("vm_not_found", 404, "No such VM, or it belongs to another user."),
    ("node_not_found", 404, "No such Proxmox VE node."),
    ("snapshot_not_found", 404, "The VM has no snapshot of that name."),
    ("backup_not_found", 404, "No such backup, or it belongs to another user."),
    ("schedule_not_found", 404, "The VM has no backup schedule."),
    ("vm_deleted", 409, "The VM is deleted."),
    ("vm_protected", 409, "The VM is protected: turn protection off before deleting or rebuilding it."),
    ("snapshot_exists", 409, "The VM already has a snapshot of that name."),
    ("backup_not_available", 409, "The backup is not usable now (still running, failed or being deleted)."),
    ("template_not_on_node", 409, "The OS template of a rebuild is not on the VM's node."),
    ("invalid_snapshot_name", 422, "A snapshot name is 2-40 letters, digits, `-` or `_`, starting with a letter."),
    ("confirmation_mismatch", 422, "A rebuild erases the VM's disks: `confirm` must repeat the VM's name."),
    ("backup_not_on_node", 409, "The VM's node cannot reach the backup's storage: restore it into a new VM."),
    ("backup_unreachable", 502, "No node of the cluster can reach the backup's storage."),
    ("backup_archive_missing", 502, "vzdump reported success but its archive is not in the storage."),
    ("container_not_found", 404, "The service has no container of that name; `details.containers` lists them."),
    ("conflict", 409, "The request conflicts with a concurrent change; try again."),
    ("userid_taken", 409, "That userid is already registered."),
    ("name_taken", 409, "The owner already has a VM or service of that name; pick another or delete the old one."),
    ("user_being_deleted", 409, "The user is being deleted (`cascade=true`): nothing new can be made for them."),
    ("user_has_resources", 409, "The user still owns VMs or services; delete them first."),
    ("quota_exceeded", 409, "The user's quota does not allow this; `details` says which limit."),
    ("operation_in_progress", 409, "The resource already has an operation running; wait for it to end."),
    ("operation_cancelled", 409, "The operation was cancelled before it finished."),
    ("idempotency_key_reused", 409, "This `Idempotency-Key` was already used with a different request."),
    ("invalid_status_transition", 409, "The resource's status does not allow this change."),
    # VMs.
    ("unknown_os", 422, "No template for that OS; `details.known` lists the OS names (`GET /vm/os`)."),
    ("unknown_node", 422, "CloudFaster does not manage that node; `details.known` lists the nodes."),
    ("disk_shrink", 422, "Disks only grow: the size asked for is below the current one."),
    ("disk_smaller_than_template", 422, "The disk asked for is smaller than the template's disk."),
    ("vm_not_enabled", 409, "Only an enabled VM can do this (it is creating, failed, deleting, deleted or missing)."),
    ("vm_without_owner", 409, "The VM's owner was deleted; an admin must delete or reassign it."),
    ("invalid_power_action", 409, "The VM's power state makes this action impossible; the message says what to do."),
    ("vm_locked", 409, "Proxmox VE holds a lock on the VM (backup, migration…); try again shortly."),
    ("vm_missing", 409, "The VM no longer exists in Proxmox VE."),
    ("vm_not_running", 409, "The VM must be running for this."),
    ("vmid_exhausted", 409, "No free VMID is left in the configured range."),
    ("console_token_missing", 401, "The console websocket needs its one-time token as a subprotocol."),
    ("console_token_invalid", 401, "The console token is not valid."),
    ("console_token_used", 401, "The console token was already used; ask for a new console."),
    ("console_token_expired", 401, "The console token has expired (after about a minute); ask for a new console."),
    ("console_token_wrong_vm", 403, "The console token is for another VM."),
    ("proxmox_refused", 409, "Proxmox VE refused the request for good; the message carries its reason."),
    ("proxmox_error", 502, "Proxmox VE answered with a failure that is not temporary."),
    ("proxmox_auth_failed", 502, "Proxmox VE refused CloudFaster's API token: an operator must fix the credentials."),
    ("no_node_available", 502, "No node could create the VM; `details` says why each one failed."),
    ("no_template", 502, "No node holds the OS's template."),
    ("template_without_disk", 502, "The OS's template has no disk to grow."),
    ("proxmox_node_down", 503, "The VM's Proxmox VE node is unreachable; try again after `Retry-After`."),
    ("proxmox_unavailable", 503, "Proxmox VE is temporarily unavailable; try again after `Retry-After`."),
    ("agent_not_configured", 409, "The VM has no QEMU guest agent configured, so it cannot report addresses."),
    ("agent_not_running", 409, "The VM's QEMU guest agent does not answer (not yet, or never)."),
    ("spice_not_available", 409, "The VM has no SPICE display (its vga is not qxl); use the VNC console."),
    ("unknown_size", 422, "No VM size of that name; the message lists the sizes (`GET /sizes`)."),
    ("size_required", 422, "Give a `size`, or all of `cores`, `memory` and `disk`."),
    ("size_not_found", 404, "No VM size of that name."),
    ("size_conflict", 409, "The size was created by another request at the same moment; try again."),
    ("invalid_pool", 422, "The IP pool's network, gateway or exclusions do not fit together; the message says which."),
    ("pool_not_found", 404, "No IP pool of that name."),
    ("pool_exists", 409, "An IP pool of that name already exists."),
    ("pool_in_use", 409, "The pool handed out addresses the change would leave out."),
    ("node_already_served", 409, "A node already gets addresses of that IP version from another pool."),
    ("pool_network_mismatch", 409, "The pools of one node must share bridge and VLAN."),
    ("pool_exhausted", 409, "No free address is left in the IP pools of the nodes the VM could go to."),
    # Services: the request.
    ("service_name_invalid", 422, "Service names are 1-63 letters, digits, '.', '_' or '-', without '..'."),
    ("name_invalid", 422, "A name or path is unsafe for the service's files."),
    ("service_types_invalid", 422, "Unknown service type; the message lists the known ones."),
    ("service_types_incompatible", 422, "These service types cannot be combined (one application type at most)."),
    ("template_invalid", 422, "The service cannot be built from these types and values."),
    ("macos_disabled", 422, "macOS services are disabled; an admin can enable them."),
    ("macos_unavailable", 422, "macOS services cannot run on this host."),
    ("kvm_unavailable", 422, "macOS needs /dev/kvm, which this host lacks; the message says what is missing."),
    ("env_invalid", 422, "`env` is not a JSON object of single-line strings, or names a reserved variable."),
    ("limits_invalid", 422, "`cpus`, `memory_mb` or `pids` is out of range."),
    ("limits_exceeded", 422, "A resource limit is over the per-service maximum; `details` has the maximum."),
    ("source_ambiguous", 422, "Send `zip_file` or `git_repo_url`, not both (and `git_ref` only with a git URL)."),
    ("source_missing", 422, "A redeploy needs a `zip_file` or a `git_repo_url`."),
    ("service_state", 409, "The service's status does not allow this (for example logs of a deleted service)."),
    ("ports_busy", 409, "Host ports could not be reserved under contention; try again."),
    ("ports_exhausted", 409, "No free host port is left in the configured range."),
    ("routing_disabled", 409, "No reverse proxy is configured (`CLOUDFASTER_PROXY__ADMIN_URL`), so no domains."),
    ("domain_invalid", 422, "Not a domain name (no IP address, port, path or wildcard)."),
    ("domain_reserved", 422, "Names under the apps domain belong to the services themselves."),
    ("domain_limit", 409, "The service already has as many custom domains as allowed."),
    ("domain_taken", 409, "The domain already belongs to another service."),
    ("domain_not_found", 404, "The service has no such custom domain."),
    # Services: databases, deployments, push webhooks.
    ("service_has_no_database", 409, "The service runs no MySQL or PostgreSQL database."),
    ("engine_ambiguous", 422, "The service runs MySQL and PostgreSQL: say which with `engine`."),
    ("engine_invalid", 422, "The service has no database of that `engine`."),
    ("publish_needs_database", 422, "`publish_database` asks for a MySQL or PostgreSQL type, and there is none."),
    ("dump_invalid", 422, "The dump is neither SQL text nor a valid gzip of it (`.sql` or `.sql.gz`)."),
    ("dump_too_large", 413, "The dump (uploaded, unpacked or exported) is over `CLOUDFASTER_DOCKER__MAX_DUMP_BYTES`."),
    ("dump_import_failed", 422, "The database refused the dump; the message has its error."),
    ("dump_export_failed", 502, "The dump tool failed inside the database container; the message has its output."),
    ("export_not_found", 404, "No such export (only the newest few are kept)."),
    ("password_rotation_failed", 502, "The database refused the new password; the old one still works."),
    ("database_command_failed", 502, "A command inside the database container failed; the message has its output."),
    ("dump_missing", 500, "The uploaded dump vanished before its import ran (a deployment problem): upload again."),
    (
        "password_missing",
        500,
        "The new password vanished before the rotation ran (a deployment problem): rotate again.",
    ),
    ("deployment_not_found", 404, "The service has no deployment of that number."),
    ("deployment_not_kept", 409, "That deployment's source is no longer kept (only the newest few are)."),
    ("webhook_needs_git", 409, "Only a service deployed from git can have a push webhook."),
    ("webhook_not_found", 404, "No push webhook has this URL (it was replaced or removed)."),
    ("webhook_signature_missing", 401, "The delivery has no X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token."),
    ("webhook_signature_invalid", 401, "The delivery's signature does not match the webhook secret: nothing deployed."),
    ("webhook_payload_invalid", 422, "The push payload is not JSON with a `ref`."),
    # Services: the upload or repository.
    ("intake_failed", 422, "The source could not be taken in."),
    ("zip_invalid", 422, "The upload is not a readable ZIP (or is encrypted)."),
    ("zip_path_traversal", 422, "An entry's path is absolute or points outside the archive."),
    ("zip_symlink", 422, "The ZIP holds a symbolic link."),
    ("zip_duplicate_entry", 422, "An entry appears twice."),
    ("zip_path_conflict", 422, "An entry lies inside another entry that is a file."),
    ("zip_too_many_entries", 422, "Too many entries: leave node_modules (and other installed dependencies) out."),
    ("zip_too_deep", 422, "An entry is nested deeper than the allowed number of folders."),
    ("zip_name_too_long", 422, "An entry's file or folder name is longer than the filesystem allows."),
    ("zip_name_invalid", 422, "An entry has a name the filesystem cannot store."),
    ("zip_bomb", 422, "An entry expands far more than real files do."),
    ("zip_too_large", 413, "The upload, or what it unpacks to, is over the configured limit."),
    ("git_url_invalid", 422, "Only plain `https://host/path` repository URLs, without credentials, are taken."),
    ("git_ref_invalid", 422, "`git_ref` is not a valid branch or tag name."),
    ("git_host_unresolvable", 422, "The repository's host name does not resolve."),
    ("git_host_forbidden", 422, "The host resolves to a private address; an admin may allow it (see the message)."),
    ("git_timeout", 422, "The clone did not finish in time."),
    ("git_clone_failed", 422, "git could not clone the repository or check out the ref; the message has git's reason."),
    ("git_too_large", 413, "The repository is over the configured size."),
    # Services: what an operation found (the error of a failed operation, also answered after ``?wait=``).
    ("service_missing", 409, "The service's record disappeared while an operation ran on it."),
    ("service_unhealthy", 502, "The containers did not become healthy; `details` has the last log lines."),
    ("compose_error", 502, "`docker compose` failed."),
    ("compose_failed", 502, "`docker compose` exited with an error; `details.output` has what it printed."),
    ("compose_timeout", 504, "`docker compose` did not finish in time."),
    ("compose_invalid", 500, "The rendered compose file is invalid (a CloudFaster bug: report it)."),
    ("compose_schema_invalid", 500, "A rendered file fails the Compose Specification (a CloudFaster bug)."),
    ("compose_policy_violation", 500, "A rendered file breaks the security policy (a CloudFaster bug)."),
    ("ports_missing", 500, "A service was rendered without a host port it needs (a CloudFaster bug)."),
    ("ports_invalid", 500, "A host port out of range reached the renderer (a CloudFaster bug)."),
    ("database_credentials_missing", 500, "A database service was rendered without credentials (a bug)."),
    ("intake_target_not_empty", 500, "A service's files directory was not empty before the intake (a bug)."),
    ("insufficient_storage", 507, "The server's disk (or quota) is full; an administrator must free space."),
    ("server_busy", 503, "The server is out of file handles or memory for the moment; try again after `Retry-After`."),
    ("storage_failed", 500, "The server cannot write its own files (permissions, read-only or failing disk)."),
    ("secrets_missing", 500, "An operation's secrets file is missing or invalid (a deployment problem)."),
    ("apps_error", 500, "The Docker half failed in an unexpected way."),
    ("compose_unavailable", 503, "The Docker Engine or `docker compose` cannot be reached; try again."),
    ("docker_unavailable", 503, "The Docker Engine cannot be reached right now; try again."),
    # Operations in general.
    ("operation_failed", 502, "The operation failed; the message says why."),
    ("max_attempts", 502, "The operation gave up after retrying a temporary failure too often."),
    ("transient_error", 503, "A temporary failure; the operation is retried."),
    ("database_deadlock", 503, "The database broke a deadlock between two writes; the operation is retried."),
    ("unknown_kind", 500, "No handler for the operation's kind in this process (a deployment mismatch)."),
    ("invalid_params", 500, "The operation's stored parameters do not fit its kind (a deployment mismatch)."),
    ("cascade_waiting", 503, "A user's deletion waits for their VMs and services to be deleted; it is retried."),
    ("cascade_failed", 502, "Some of a user's VMs or services could not be deleted; fix them and delete again."),
    ("cascade_incomplete", 502, "The user still owned resources after every round of deletion."),
    ("internal", 500, "The operation crashed; the server log has the details."),
    # The server itself.
    ("internal_error", 500, "An unexpected error; quote the `X-Request-ID` when you report it."),
    ("upstream_unavailable", 503, "A dependency cannot be reached; try again."),
    ("database_unavailable", 503, "The database is unreachable; try again after `Retry-After`."),
)

BY_CODE = {entry.code: entry for entry in ERROR_CODES}
# What a failed operation answers after ``?wait=`` when its code is unknown here (a new kind's own code).
FAILED_OPERATION_STATUS = 502

INTRO = """\
Every error has one JSON shape, with a stable `code`, a message for people and optional `details`:

```json
{"error": {"code": "quota_exceeded", "message": "…", "details": {"limit": "max_vms", "max": 10}}}
```

A call that starts an operation answers `202` with `Location: /operations/{id}`. With `?wait=SECONDS` it waits:
an operation that succeeded answers `200` (`201` for `POST /service`), one still running after the wait answers
`202`, and one that **failed** answers the status of its error code below (`502` for a code not listed) with the
operation's error in this shape and the operation in `details.operation` (`id`, `kind`, `state`, `url`).
`GET /operations/{id}?wait=SECONDS` waits the same way and answers `200` with the operation whatever its outcome.

An action already satisfied (`start` on a running VM or service, `stop` on a stopped one, `resume` on a running
VM…) answers `200` with the resource and starts nothing.
"""


def render_markdown() -> str:
    """The error table as Markdown (docs/errors.md, and the OpenAPI document's description)."""
    lines = ["# Errors", "", INTRO, "| status | code | meaning |", "|---|---|---|"]
    for entry in sorted(ERROR_CODES, key=lambda e: (e.status, e.code)):
        lines.append(f"| {entry.status} {HTTPStatus(entry.status).phrase} | `{entry.code}` | {entry.meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")  # noqa: T201
