"""``/service/{id}/domains``: a service's custom domains (routed through the proxy once they resolve to it)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response

from cloudfaster.api.deps import AppsDep, AuthFirstRoute, PrincipalDep, ServiceIdPath
from cloudfaster.api.openapi import errors
from cloudfaster.api.schemas.services import DomainCreate, DomainRead
from cloudfaster.apps import domains

# Included before the services router: POST /service/{id}/{action} would otherwise take /domains.
router = APIRouter(prefix="/service/{service_id}/domains", tags=["services"], route_class=AuthFirstRoute)

Hostname = Path(max_length=300, description="The custom domain, e.g. www.example.org")


@router.get("", response_model=list[DomainRead], responses=errors(409))
async def list_domains(service_id: ServiceIdPath, rt: AppsDep, principal: PrincipalDep) -> list[DomainRead]:
    """The service's custom domains, each with the DNS records that make it resolve to the proxy."""
    return [DomainRead.of(d) for d in await domains.list_domains(rt, principal, service_id)]


@router.post("", status_code=201, response_model=DomainRead, responses=errors(409))
async def add_domain(service_id: ServiceIdPath, body: DomainCreate, rt: AppsDep, principal: PrincipalDep) -> DomainRead:
    """Add a custom domain: the answer says which DNS record to create; the route goes live once the name
    resolves to the proxy (checked periodically), with a certificate from ACME."""
    return DomainRead.of(await domains.add(rt, principal, service_id, body.hostname))


@router.delete("/{hostname}", status_code=204, response_class=Response, responses=errors(409))
async def remove_domain(
    service_id: ServiceIdPath, rt: AppsDep, principal: PrincipalDep, hostname: str = Hostname
) -> Response:
    """Remove a custom domain; its route goes at once."""
    await domains.remove(rt, principal, service_id, hostname)
    return Response(status_code=204)
