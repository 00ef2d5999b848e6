"""``service.db-export``, ``service.db-import`` and ``service.rotate-db-password``: commands run inside the
service's database container (``databases`` has them), the service keeps its status throughout."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from cloudfaster.apps import databases
from cloudfaster.apps.envfile import parse_env_file, render_env_file
from cloudfaster.apps.errors import operation_error
from cloudfaster.apps.handoff import DB_NAME, DB_USER, handed_credentials
from cloudfaster.apps.intake import discard
from cloudfaster.apps.kinds.common import ServiceKind
from cloudfaster.apps.layout import ServiceLayout
from cloudfaster.apps.params import DatabaseParams
from cloudfaster.apps.runtime import up_or_explain
from cloudfaster.apps.store import project_of
from cloudfaster.compose.errors import ComposeError
from cloudfaster.core.runner.context import OperationContext
from cloudfaster.core.runner.kinds import OperationFailedError

# Where each variable holding the app user's password lives, per file of the service directory.
PASSWORD_VARIABLES = {
    "mysql.env": ("MYSQL_PASSWORD",),
    "postgres.env": ("POSTGRES_PASSWORD",),
    ".env": ("DB_PASSWORD", "MYSQL_PASSWORD", "POSTGRES_PASSWORD"),
}
ALTER_USER = {
    "mysql": f"ALTER USER '{DB_USER}'@'%' IDENTIFIED BY '{{password}}';\n",
    "postgres": f"ALTER USER {DB_USER} WITH PASSWORD '{{password}}';\n",
}


class DatabaseKind(ServiceKind[DatabaseParams]):
    """Shared: run a command in the database container, and remove the handoff when the operation ends."""

    params = DatabaseParams
    failure_code = "database_command_failed"

    async def exec_in(self, ctx: OperationContext[DatabaseParams], engine: str, command: list[str], **io: Any) -> str:
        """Run ``command`` in the ``engine`` container; a failure fails the operation with the tool's output."""
        _owned, layout = await self.target(ctx)
        timeout = self.rt.settings.docker.dump_timeout_s
        try:
            return await self.rt.compose.exec(project_of(layout), engine, command, timeout_s=timeout, **io)
        except ComposeError as exc:
            error = operation_error(exc)
            if isinstance(error, OperationFailedError):
                error = OperationFailedError(str(error), code=self.failure_code, details=error.details)
            raise error from exc

    async def on_failure(self, ctx: OperationContext[DatabaseParams], error: OperationFailedError) -> None:
        """Remove what the request handed over; the service and its data are as they were."""
        discard(ctx.params.handoff_path)


class ExportDatabase(DatabaseKind):
    """Dump the app's database inside its container and keep it gzipped for download."""

    name = "service.db-export"
    failure_code = "dump_export_failed"

    async def run(self, ctx: OperationContext[DatabaseParams]) -> dict[str, Any]:
        """Dump, compress, keep the newest few."""
        owned, layout = await self.target(ctx)
        engine = ctx.params.engine or databases.engines_of(owned)[0]
        target = databases.export_file(layout, ctx.op_id)
        raw = target.with_name(f"{ctx.op_id}.sql")
        await asyncio.to_thread(target.parent.mkdir, mode=0o700, exist_ok=True)
        try:
            await self.exec_in(ctx, engine, databases.DUMP[engine], stdout=raw)
            size = await asyncio.to_thread(self._compress, raw, target)
        finally:
            await asyncio.to_thread(raw.unlink, True)
        await asyncio.to_thread(databases.prune_exports, layout)
        download = f"/service/{owned.row.id}/database/exports/{ctx.op_id}"
        return {"service_id": owned.row.id, "engine": engine, "bytes": size, "download": download}

    def _compress(self, raw: Any, target: Any) -> int:
        limit = self.rt.settings.docker.max_dump_bytes
        try:
            return databases.gzip_file(raw, target, limit)
        except ValueError as exc:
            raise OperationFailedError(f"the dump is over {limit} bytes", code="dump_too_large") from exc


class ImportDatabase(DatabaseKind):
    """Load an uploaded dump into the app's database."""

    name = "service.db-import"
    failure_code = "dump_import_failed"

    async def run(self, ctx: OperationContext[DatabaseParams]) -> dict[str, Any]:
        """Unpack (if gzipped) and feed the dump to the database's client."""
        owned, _layout = await self.target(ctx)
        handoff = ctx.params.handoff_path
        if handoff is None or not await asyncio.to_thread((handoff / databases.UPLOAD_FILE).is_file):
            raise OperationFailedError("the uploaded dump is gone; upload it again", code="dump_missing")
        engine = ctx.params.engine or databases.engines_of(owned)[0]
        sql = await asyncio.to_thread(self._unpack, handoff)
        output = await self.exec_in(ctx, engine, databases.LOAD[engine], stdin=sql)
        discard(handoff)
        return {"service_id": owned.row.id, "engine": engine, "output": output[-4000:]}

    def _unpack(self, handoff: Any) -> Any:
        upload = handoff / databases.UPLOAD_FILE
        with upload.open("rb") as head:
            packed = head.read(2) == databases.GZIP_MAGIC
        if not packed:
            return upload
        sql = handoff / "dump.sql"
        limit = 4 * self.rt.settings.docker.max_dump_bytes
        try:
            databases.gunzip_file(upload, sql, limit)
        except ValueError as exc:
            raise OperationFailedError(f"the dump unpacks to over {limit} bytes", code="dump_too_large") from exc
        except (OSError, EOFError) as exc:
            raise OperationFailedError(f"the dump is not a valid gzip file: {exc}", code="dump_invalid") from exc
        return sql


class RotateDatabasePassword(DatabaseKind):
    """Give the app's database user a new password: in the database(s), in the env files, in the containers."""

    name = "service.rotate-db-password"
    failure_code = "password_rotation_failed"

    async def run(self, ctx: OperationContext[DatabaseParams]) -> dict[str, Any]:
        """Alter the user, rewrite the env files, recreate what changed."""
        owned, layout = await self.target(ctx)
        credentials = handed_credentials(ctx.params.handoff_path)
        if credentials is None and "files" not in ctx.checkpoints:
            raise OperationFailedError("the new password is gone; rotate again", code="password_missing")
        for engine in databases.engines_of(owned):
            if credentials is not None:
                await ctx.step(f"alter-{engine}", partial(self._alter, ctx, engine, credentials.password))
        if credentials is not None:
            await ctx.step("files", partial(self._rewrite, layout, credentials.password))
        await ctx.step("up", partial(up_or_explain, self.rt.compose, project_of(layout)))
        discard(ctx.params.handoff_path)
        return {"service_id": owned.row.id, "database": DB_NAME, "user": DB_USER}

    async def _alter(self, ctx: OperationContext[DatabaseParams], engine: databases.Engine, password: str) -> bool:
        handoff = ctx.params.handoff_path
        if handoff is None:
            raise OperationFailedError("the new password is gone; rotate again", code="password_missing")
        script = handoff / f"alter-{engine}.sql"
        # The password is alphanumeric (DatabaseCredentials checks it), so it needs no escaping in SQL.
        await asyncio.to_thread(script.write_text, ALTER_USER[engine].format(password=password))
        await asyncio.to_thread(script.chmod, 0o600)
        await self.exec_in(ctx, engine, databases.ADMIN[engine], stdin=script)
        return True

    async def _rewrite(self, layout: ServiceLayout, password: str) -> list[str]:
        return await asyncio.to_thread(_rewrite_env_files, layout, password)


def _rewrite_env_files(layout: ServiceLayout, password: str) -> list[str]:
    files: dict[str, str] = {}
    for name, variables in PASSWORD_VARIABLES.items():
        path = layout.root / name
        if not path.is_file():
            continue
        env = parse_env_file(path.read_text(encoding="utf-8"))
        for variable in variables:
            if variable in env:
                env[variable] = password
        if "DATABASE_URL" in env and name == ".env":
            scheme, _, rest = env["DATABASE_URL"].partition("://")
            host = rest.partition("@")[2]
            env["DATABASE_URL"] = f"{scheme}://{DB_USER}:{password}@{host}"
        files[name] = render_env_file(env)
    layout.write_files(files)
    return sorted(files)
