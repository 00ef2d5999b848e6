"""Which compose project's logs a caller may read, and whether the container asked for is one of its own."""

from __future__ import annotations

from cloudfaster.apps import store
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.service import project_of_service
from cloudfaster.apps.status import DELETED
from cloudfaster.compose.errors import ComposeError
from cloudfaster.compose.protocol import ComposeProject
from cloudfaster.core.errors import ConflictError, NotFoundError, UpstreamUnavailableError
from cloudfaster.core.principal import Principal


async def logs_of(
    rt: AppRuntime, principal: Principal, service_id: int, container: str | None = None
) -> ComposeProject:
    """The compose project whose logs a caller may read: 409 once the service has no containers, 404 (with the
    names it has) for a container it does not have."""
    owned = await store.load_visible(rt.db, principal, service_id)
    if owned.row.status in (DELETED, "failed"):
        raise ConflictError(f"service {service_id} is {owned.row.status}: no containers", code="service_state")
    project = project_of_service(rt, owned)
    if container is not None:
        try:
            names = sorted({status.service for status in await rt.compose.ps(project)})
        except ComposeError as exc:
            raise UpstreamUnavailableError(
                "could not list the service's containers", code="docker_unavailable"
            ) from exc
        if container not in names:
            raise NotFoundError(
                f"service {service_id} has no container {container!r}; it has {', '.join(names) or 'none'}",
                code="container_not_found",
                details={"containers": names},
            )
    return project
