"""``service.create``: directories, source, rendered files, `up --wait`; on failure nothing is left running."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from cloudfaster.apps import deployments
from cloudfaster.apps.errors import TemplateError
from cloudfaster.apps.handoff import DB_NAME, DB_USER
from cloudfaster.apps.intake import discard
from cloudfaster.apps.kinds.common import ServiceKind, error_output, failure_detail
from cloudfaster.apps.layout import ServiceLayout, content_owner
from cloudfaster.apps.params import CreateParams
from cloudfaster.apps.runtime import up_or_explain
from cloudfaster.apps.secrets import CreateSecrets, drop_secrets, load_secrets
from cloudfaster.apps.spec import DATABASE_TYPES, DatabaseCredentials, ServiceSpec, parse_service_types
from cloudfaster.apps.staging import move_into_place
from cloudfaster.apps.store import OwnedService, owner_dir, project_of, service_key
from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError


class CreateService(ServiceKind[CreateParams]):
    """Create the service's directories, move its source in, render its files and bring it up."""

    name = "service.create"
    params = CreateParams

    async def run(self, ctx: OperationContext[CreateParams]) -> dict[str, Any]:
        """Create the service."""
        owned, layout = await self.target(ctx)
        await ctx.step("directories", partial(self._directories, layout))
        staged = ctx.params.staged_path
        if staged is not None:  # a source: this is the service's first deployment
            number = await ctx.step("record", partial(self._record, owned, ctx))
            await ctx.step("keep", partial(deployments.keep_source, layout, number, staged))
        await ctx.step("source", partial(self._source, layout, staged))
        await ctx.step("render", partial(self._render, owned, layout, ctx.params))
        project = project_of(layout)
        await ctx.save("project", project.name, write=False)  # written with the start of `up`, before it runs
        output = await ctx.step("up", partial(up_or_explain, self.rt.compose, project))
        if staged is not None:
            output = "\n".join(filter(None, [await self.build_output(owned, layout), output]))
            await deployments.finish(self.rt, layout, ctx.op_id, ok=True, output=output)
        urls = self.rt.urls_of(owned)
        await self.rt.set_status(owned.row.id, "running", urls=urls, status_detail=None)
        drop_secrets(self.rt.settings, ctx.params.secrets_ref)
        return {"service_id": owned.row.id, "project": project.name, "urls": urls}

    async def _record(self, owned: OwnedService, ctx: OperationContext[CreateParams]) -> int:
        row = owned.row
        return await deployments.begin(
            self.rt,
            service_id=row.id,
            operation_id=ctx.op_id,
            source_type=row.source_type,
            source_ref=row.source_ref,
            source_digest=ctx.params.source_digest,
        )

    async def _directories(self, layout: ServiceLayout) -> str:
        docker = self.rt.settings.docker
        layout.create(docker.files_uid, docker.files_gid)
        return str(layout.root)

    async def _source(self, layout: ServiceLayout, staged: Path | None) -> bool:
        if staged is not None and (staged / "data").exists():
            move_into_place(staged / "data", layout.data_dir)
        discard(staged)
        return staged is not None

    async def _render(self, owned: OwnedService, layout: ServiceLayout, params: CreateParams) -> list[str]:
        docker = self.rt.settings.docker
        secrets = load_secrets(self.rt.settings, params.secrets_ref)
        try:
            types = parse_service_types(params.types)
            spec = ServiceSpec(
                project=layout.project,
                owner=owner_dir(owned.userid),
                service_id=service_key(self.rt.settings, owned.row.id),
                types=types,
                ports=dict(owned.row.ports or {}),
                filebrowser_username=params.filebrowser_user,
                filebrowser_password_hash=secrets.filebrowser_hash,
                database=_credentials(secrets) if types & DATABASE_TYPES else None,
                limits=params.limits.spec(),
                env=dict(secrets.env),
                run_as=content_owner(docker.files_uid, docker.files_gid),
            )
            rendered = self.rt.builder.render(spec)
        except TemplateError as exc:
            raise OperationFailedError(exc.message, code=exc.code) from exc
        files = rendered.all_files()
        layout.write_files(files)
        # No separate `docker compose config` here: the render was checked against the Compose schema and our
        # policy, `up` loads and validates the file the same way, and a failing `up` runs `config` to explain
        # itself (runtime.up_or_explain). Every template is checked with `docker compose config` in the tests.
        return sorted(files)

    async def on_failure(self, ctx: OperationContext[CreateParams], error: OperationFailedError) -> None:
        """Take down whatever started, remove the files, free the ports; the record stays as ``failed``."""
        owned, layout = await self.target(ctx)
        await deployments.finish(self.rt, layout, ctx.op_id, ok=False, output=error_output(error))
        await self.dismantle(owned.row.id, layout)
        discard(ctx.params.staged_path)
        drop_secrets(self.rt.settings, ctx.params.secrets_ref)
        await self.rt.set_status(owned.row.id, "failed", status_detail=failure_detail(error), ports=None, urls=None)


def _credentials(secrets: CreateSecrets) -> DatabaseCredentials:
    """The credentials the create answer showed; an operation from before they were kept makes its own."""
    if secrets.database_password and secrets.database_root_password:
        return DatabaseCredentials(DB_NAME, DB_USER, secrets.database_password, secrets.database_root_password)
    return DatabaseCredentials.generate()
