"""Push webhooks: each git-sourced service may have a secret URL (``/hooks/services/{token}``) that redeploys it
from git when its repository is pushed to. A delivery is accepted only with the signature its sender makes with the
service's webhook secret: GitHub's ``X-Hub-Signature-256: sha256=<HMAC-SHA256 hex>``, Gitea's
``X-Gitea-Signature: <HMAC-SHA256 hex>`` (both over the raw body), or GitLab's ``X-Gitlab-Token: <secret>``."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudfaster.apps import store
from cloudfaster.apps.operations import start_operation
from cloudfaster.apps.params import DeployParams
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.status import DELETED, DEPLOYING
from cloudfaster.apps.store import OwnedService
from cloudfaster.core.errors import AppError, ConflictError, NotFoundError, ValidationFailedError
from cloudfaster.core.operations import Started
from cloudfaster.core.principal import Principal

PATH = "/hooks/services/"
PUSH_EVENTS = frozenset({"push", "Push Hook", "Tag Push Hook"})
PING_EVENTS = frozenset({"ping"})


class WebhookSignatureError(AppError):
    """A delivery without a valid signature of the service's webhook secret."""

    status_code = 401
    code = "webhook_signature_invalid"


@dataclass(frozen=True)
class Webhook:
    """A service's webhook as created: the secret URL path and the signing secret, shown once."""

    path: str
    secret: str


@dataclass(frozen=True)
class Delivery:
    """What a delivery did: ``deployed`` (with the operation), or ``pong`` / ``ignored`` and why."""

    outcome: str
    reason: str | None = None
    started: Started[OwnedService] | None = None


def token_hash(token: str) -> str:
    """How a webhook token is stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


def _git_source(owned: OwnedService) -> tuple[str, str | None]:
    if owned.row.source_type != "git" or not owned.row.source_ref:
        raise ConflictError("only a service deployed from git can have a push webhook", code="webhook_needs_git")
    url, _, ref = owned.row.source_ref.partition("#")
    return url, ref or None


async def create(rt: AppRuntime, principal: Principal, service_id: int) -> Webhook:
    """A new webhook URL and secret for a visible git service (any earlier one stops working); 409 once deleted."""
    owned = await store.load_visible(rt.db, principal, service_id)
    if owned.row.status == DELETED:
        raise ConflictError(f"service {service_id} is deleted", code="service_state", details={"status": DELETED})
    _git_source(owned)
    token, secret = secrets.token_urlsafe(32), secrets.token_hex(32)
    async with rt.db.write() as session:
        await store.update_service(session, service_id, webhook_token_hash=token_hash(token), webhook_secret=secret)
    return Webhook(path=PATH + token, secret=secret)


async def remove(rt: AppRuntime, principal: Principal, service_id: int) -> None:
    """Turn a visible service's webhook off."""
    await store.load_visible(rt.db, principal, service_id)
    async with rt.db.write() as session:
        await store.update_service(session, service_id, webhook_token_hash=None, webhook_secret=None)


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Accept the delivery only with a valid GitHub, Gitea or GitLab signature of ``secret``."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    github = headers.get("x-hub-signature-256")
    gitea = headers.get("x-gitea-signature")
    gitlab = headers.get("x-gitlab-token")
    if github is not None:
        ok = hmac.compare_digest(github.strip().encode(), f"sha256={expected}".encode())
    elif gitea is not None:
        ok = hmac.compare_digest(gitea.strip().encode(), expected.encode())
    elif gitlab is not None:
        ok = hmac.compare_digest(gitlab.encode(), secret.encode())
    else:
        raise WebhookSignatureError(
            "no signature: send X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token",
            code="webhook_signature_missing",
        )
    if not ok:
        raise WebhookSignatureError("the signature does not match the webhook secret")


def _event(headers: Mapping[str, str]) -> str:
    for name in ("x-github-event", "x-gitea-event", "x-gitlab-event"):
        if name in headers:
            return headers[name]
    return "push"


def _pushed(body: bytes) -> tuple[str, str | None]:
    """The pushed ref, and the repository's default branch when the payload names it (GitHub and Gitea in
    ``repository``, GitLab in ``project``)."""
    try:
        payload: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailedError("the push payload is not JSON", code="webhook_payload_invalid") from exc
    ref = payload.get("ref") if isinstance(payload, dict) else None
    if not isinstance(ref, str):
        raise ValidationFailedError("the push payload has no ref", code="webhook_payload_invalid")
    for key in ("repository", "project"):
        repo = payload.get(key)
        if isinstance(repo, dict) and isinstance(repo.get("default_branch"), str):
            return ref, repo["default_branch"]
    return ref, None


async def deliver(rt: AppRuntime, token: str, body: bytes, headers: Mapping[str, str]) -> Delivery:
    """Handle a delivery: 404 for an unknown URL (or one of a deleted service), 401 without a valid signature
    (nothing is deployed), then a push to the service's branch or tag (the default branch when it names none)
    starts ``service.deploy``."""
    async with rt.db.read() as session:
        owned = await store.by_webhook(session, token_hash(token))
    if owned is None or owned.row.webhook_secret is None or owned.row.status == DELETED:
        raise NotFoundError("no such webhook", code="webhook_not_found")
    verify(owned.row.webhook_secret, body, headers)
    event = _event(headers)
    if event in PING_EVENTS:
        return Delivery("pong")
    if event not in PUSH_EVENTS:
        return Delivery("ignored", f"event {event!r} is not a push")
    url, ref = _git_source(owned)
    pushed, default = _pushed(body)
    followed = ref or default
    if followed is not None and pushed not in (f"refs/heads/{followed}", f"refs/tags/{followed}"):
        return Delivery("ignored", f"{pushed} is not the deployed ref {followed}")
    params = DeployParams(
        service_id=owned.row.id,
        source_type="git",
        source_ref=owned.row.source_ref,
        fetch=True,
        git_url=url,
        git_ref=ref,
    )
    started = await start_operation(
        rt,
        owned,
        kind="service.deploy",
        transitional=DEPLOYING,
        params=params,
        fingerprint={"webhook": secrets.token_hex(8)},  # every delivery is its own deploy
        idempotency_key=None,
    )
    return Delivery("deployed", started=started)
