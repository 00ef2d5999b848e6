"""Deployment history: every deploy (a create with a source, a redeploy, a rollback, a push webhook) is a record
with its source, times, result and output; the newest ``deployments_kept`` successful ones keep their source (an
uploaded ZIP as ``deployments/<number>.zip``, a cloned tree as ``deployments/<number>/``), and a rollback deploys one
of those again (``service.rollback``)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from cloudfaster.apps import store
from cloudfaster.apps.intake import SOURCE_ZIP, StagedSource, discard, new_staging_dir, stage_kept_zip
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.operations import start_operation
from cloudfaster.apps.params import DeployParams
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.apps.status import DEPLOYING
from cloudfaster.core.errors import ConflictError, NotFoundError
from cloudfaster.core.operations import Started
from cloudfaster.core.pagination import PageOf
from cloudfaster.core.principal import Principal
from cloudfaster.db.models import ServiceDeployment

KEPT_DIR = "deployments"
OUTPUT_LIMIT = 64 * 1024  # the tail of a deployment's output that is recorded
RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"


def kept_dir(layout: ServiceLayout, number: int) -> Path:
    """Where deployment ``number`` keeps its source tree (a cloned repository)."""
    return layout.root / KEPT_DIR / str(number)


def kept_zip(layout: ServiceLayout, number: int) -> Path:
    """Where deployment ``number`` keeps its uploaded ZIP."""
    return layout.root / KEPT_DIR / f"{number}.zip"


def _is_kept(layout: ServiceLayout, number: int) -> bool:
    return kept_zip(layout, number).is_file() or kept_dir(layout, number).is_dir()


def _drop_kept(layout: ServiceLayout, number: int) -> None:
    kept_zip(layout, number).unlink(missing_ok=True)
    shutil.rmtree(kept_dir(layout, number), ignore_errors=True)


def clip(output: str) -> str:
    """The tail of an output that fits a record."""
    return output if len(output) <= OUTPUT_LIMIT else "…" + output[-OUTPUT_LIMIT:]


async def begin(
    rt: AppRuntime,
    *,
    service_id: int,
    operation_id: str,
    source_type: str,
    source_ref: str | None,
    source_digest: str | None,
    rollback_of: int | None = None,
) -> int:
    """The number of the deployment an operation records, created ``running`` on its first call."""
    async with rt.db.write() as session:
        found = await store.deployment_by_operation(session, operation_id)
        if found is not None:
            return found.number
        row = await store.add_deployment(
            session,
            service_id,
            operation_id=operation_id,
            source_type=source_type,
            source_ref=source_ref,
            source_digest=source_digest,
            rollback_of=rollback_of,
            state=RUNNING,
            kept=False,
        )
        return row.number


def _copy_tree(source: Path, target: Path) -> bool:
    if not source.is_dir():
        return False
    if target.exists():  # from an attempt cut short while copying
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    shutil.copytree(source, target, symlinks=True)
    return True


def _keep(staged: Path, layout: ServiceLayout, number: int) -> bool:
    upload, target = staged / SOURCE_ZIP, kept_zip(layout, number)
    if upload.is_file():  # one rename (staging is on the services' filesystem), not a copy of the extracted tree
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        os.replace(upload, target)
        return True
    if target.is_file():  # renamed by an attempt cut short before its checkpoint
        return True
    return _copy_tree(staged / "data", kept_dir(layout, number))


async def keep_source(layout: ServiceLayout, number: int, staged: Path) -> bool:
    """Keep a staged source for rollbacks (before its tree becomes ``data/``): the uploaded ZIP, else a copy of the
    cloned tree."""
    return await asyncio.to_thread(_keep, staged, layout, number)


async def finish(rt: AppRuntime, layout: ServiceLayout, operation_id: str, *, ok: bool, output: str) -> None:
    """Record how the deployment ended; a failed one keeps no source, a successful one prunes the oldest kept (in
    the same transaction)."""
    async with rt.db.write() as session:
        found = await store.deployment_by_operation(session, operation_id)
        if found is None:
            return
        kept = ok and _is_kept(layout, found.number)
        await store.finish_deployment(
            session, operation_id, state=SUCCEEDED if ok else FAILED, output=clip(output), kept=kept
        )
        dropped = await _forget_oldest(rt, session, found.service_id) if ok else [found.number]
    for number in dropped:
        await asyncio.to_thread(_drop_kept, layout, number)


async def _forget_oldest(rt: AppRuntime, session: AsyncSession, service_id: int) -> list[int]:
    kept = await store.kept_deployments(session, service_id)
    dropped = [row.number for row in kept[rt.settings.docker.deployments_kept :]]
    await store.forget_kept(session, service_id, dropped)
    return dropped


async def list_of(
    rt: AppRuntime, principal: Principal, service_id: int, *, limit: int, cursor: str | None
) -> PageOf[ServiceDeployment]:
    """A visible service's deployments, oldest first."""
    await store.load_visible(rt.db, principal, service_id)
    async with rt.db.read() as session:
        return await store.list_deployments(session, service_id, limit=limit, cursor=cursor)


def _stage_copy(source: Path, staging: Path) -> None:
    shutil.copytree(source, staging / "data", symlinks=True)


async def _stage_kept(rt: AppRuntime, layout: ServiceLayout, number: int) -> StagedSource:
    """A kept source staged again: its ZIP extracted (through the upload's checks), else its tree copied."""
    if kept_zip(layout, number).is_file():
        return await stage_kept_zip(rt, kept_zip(layout, number))
    staging = new_staging_dir(rt.settings)
    try:
        await asyncio.to_thread(_stage_copy, kept_dir(layout, number), staging)
    except BaseException:
        discard(staging)
        raise
    return StagedSource(staging, {})


async def rollback(
    rt: AppRuntime, principal: Principal, service_id: int, number: int, idempotency_key: str | None
) -> Started[store.OwnedService]:
    """Deploy a kept deployment's source again (``service.rollback``): 404 for an unknown number, 409 when its
    source is no longer kept."""
    owned = await store.load_visible(rt.db, principal, service_id)
    async with rt.db.read() as session:
        target = await store.get_deployment(session, service_id, number)
    if target is None:
        raise NotFoundError(f"service {service_id} has no deployment {number}", code="deployment_not_found")
    layout = store.layout_of(rt.settings, owned.userid, service_id)
    if not target.kept or not _is_kept(layout, number):
        raise ConflictError(
            f"deployment {number} is not kept (the newest {rt.settings.docker.deployments_kept} successful ones are)",
            code="deployment_not_kept",
        )
    staged = await _stage_kept(rt, layout, number)
    params = DeployParams(
        service_id=service_id,
        staged=str(staged.path),
        source_type=target.source_type,
        source_ref=target.source_ref,
        source_digest=target.source_digest,
        rollback_of=number,
    )
    return await start_operation(
        rt,
        owned,
        kind="service.rollback",
        params=params,
        fingerprint={"rollback_of": number},
        idempotency_key=idempotency_key,
        transitional=DEPLOYING,
        staged=staged,
    )
