"""The cloudfaster command: serve, worker, db upgrade, keys create, doctor."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cloudfaster.settings import Settings, default_data_dir

DESCRIPTION = "CloudFaster: virtual machines on Proxmox VE and Docker Compose services, through one HTTP API."
EPILOG = (
    "Settings come from CLOUDFASTER_* environment variables or a .env file in the working directory. "
    "The SQLite database, logs and service files live in CLOUDFASTER_DATA_DIR (default: {data_dir}); "
    "CLOUDFASTER_DATABASE_URL names another database."
)


def say(message: str) -> None:
    """One line for the operator on stderr (stdout stays for what scripts capture, such as a new key)."""
    print(f"cloudfaster: {message}", file=sys.stderr)  # noqa: T201


def database_label(settings: Settings) -> str:
    """The database a command uses, without its password."""
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def load_settings() -> Settings:
    """Settings from the environment and ``.env``; a bad value exits with one line naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        for err in exc.errors():
            variable = "CLOUDFASTER_" + "__".join(str(part).upper() for part in err["loc"])
            # The offending value is not printed: it may be a secret.
            print(f"cloudfaster: invalid setting {variable}: {err['msg']}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None


def require_sandbox_if_used(settings: Settings) -> None:
    """Stop with one line, before anything starts, when the sandbox is needed but pvesim is not installed."""
    if not settings.proxmox.use_sandbox:
        return
    from cloudfaster.vms.sandbox import SandboxUnavailableError, check_sandbox_available

    try:
        check_sandbox_available()
    except SandboxUnavailableError as exc:
        raise SystemExit(f"cloudfaster: {exc}") from None


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from cloudfaster.api.app import create_app

    settings = load_settings()
    if args.no_worker and settings.worker.broker == "memory":
        raise SystemExit("cloudfaster: --no-worker needs a shared broker (CLOUDFASTER_WORKER__BROKER=rabbitmq|redis)")
    require_sandbox_if_used(settings)
    app = create_app(settings, run_worker=not args.no_worker)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", access_log=False, proxy_headers=True
    )
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{args.port}"

    class AnnouncingServer(uvicorn.Server):
        """Says where it listens once its sockets are bound (after the instance has started)."""

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                say(f"listening on {url} (API docs: {url}/docs)")

    AnnouncingServer(config).run()


async def _work(settings: Settings) -> None:
    # The instance without the HTTP layer: no FastAPI app is built (or imported) in a worker.
    from cloudfaster.instance import build_instance

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with build_instance(settings, run_worker=True).running():
        await stop.wait()


def _worker(_: argparse.Namespace) -> None:
    settings = load_settings()
    if settings.worker.broker == "memory":
        raise SystemExit("cloudfaster: a worker needs a shared broker (CLOUDFASTER_WORKER__BROKER=rabbitmq|redis)")
    require_sandbox_if_used(settings)
    asyncio.run(_work(settings))


async def _upgrade(settings: Settings) -> None:
    from cloudfaster.db.engine import Database
    from cloudfaster.db.migrate import upgrade_to_head
    from cloudfaster.instance import prepare_data_dir

    for warning in prepare_data_dir(settings):
        say(warning)
    db = Database(settings.effective_database_url)
    try:
        await upgrade_to_head(db)
    finally:
        await db.dispose()


def _db_upgrade(_: argparse.Namespace) -> None:
    settings = load_settings()
    say(f"database: {database_label(settings)}")
    asyncio.run(_upgrade(settings))
    print("database is at the latest migration")  # noqa: T201


def _sqlite_file_missing(settings: Settings) -> bool:
    """Whether the database is a SQLite file that does not exist (opening it would create it)."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.effective_database_url)
    return url.get_backend_name() == "sqlite" and bool(url.database) and not Path(url.database or "").is_file()


def _no_database(settings: Settings) -> SystemExit:
    return SystemExit(
        f"cloudfaster: there is no CloudFaster database at {database_label(settings)}; set CLOUDFASTER_DATA_DIR "
        "or CLOUDFASTER_DATABASE_URL to the one `cloudfaster serve` uses (or create it with `cloudfaster db upgrade`)"
    )


async def _has_schema(settings: Settings) -> bool:
    """Whether CloudFaster's migrations ran on the configured database."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from cloudfaster.db.engine import Database

    db = Database(settings.effective_database_url)
    try:
        async with db.read() as session:
            await session.execute(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:
        return False
    finally:
        await db.dispose()
    return True


async def _create_key(settings: Settings, userid: str | None, name: str) -> str:
    from cloudfaster.core import keys, users
    from cloudfaster.db.engine import Database

    if not await _has_schema(settings):
        raise _no_database(settings)
    await _upgrade(settings)
    db = Database(settings.effective_database_url)
    try:
        async with db.write() as session:
            user = None
            if userid is not None:
                user = await users.find_user(session, userid)
                if user is None:
                    raise SystemExit(f"cloudfaster: no user {userid!r} in {database_label(settings)}")
            return (await keys.create_key(session, user=user, name=name)).token
    finally:
        await db.dispose()


def _keys_create(args: argparse.Namespace) -> None:
    settings = load_settings()
    say(f"database: {database_label(settings)}")
    if _sqlite_file_missing(settings):
        raise _no_database(settings)
    token = asyncio.run(_create_key(settings, None if args.admin else args.user, args.name))
    print(token)  # noqa: T201


def _doctor(args: argparse.Namespace) -> None:
    from rich.console import Console

    from cloudfaster.apps.spec import ServiceType
    from cloudfaster.doctor import DoctorOptions, run_doctor

    settings = load_settings()
    options = DoctorOptions(
        offline=args.offline,
        areas=tuple(args.only or ("proxmox", "docker", "proxy")),
        templates=tuple(ServiceType(t) for t in args.template) if args.template else DoctorOptions().templates,
    )
    report = asyncio.run(run_doctor(settings, options))
    if args.json:
        print(report.render_json())  # noqa: T201
    else:
        report.print_table(Console())
    raise SystemExit(report.exit_code)


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = argparse.ArgumentParser(
        prog="cloudfaster", description=DESCRIPTION, epilog=EPILOG.format(data_dir=default_data_dir())
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API (and, unless --no-worker, the operations runner)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-worker", action="store_true", help="API only: leave operations to workers")
    serve.set_defaults(func=_serve)

    worker = sub.add_parser("worker", help="run operations only (needs a shared broker); stops cleanly on SIGTERM")
    worker.set_defaults(func=_worker)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations up to the latest").set_defaults(func=_db_upgrade)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key and print it once")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--admin", action="store_true", help="an admin key")
    who.add_argument("--user", metavar="USERID", help="a key acting as this user")
    create.add_argument("--name", default="cli")
    create.set_defaults(func=_keys_create)

    doctor = sub.add_parser(
        "doctor", help="check Proxmox VE, Docker and the templates before the first user; exit 1 if anything fails"
    )
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.add_argument("--offline", action="store_true", help="use the images on this host; pull nothing")
    doctor.add_argument("--only", action="append", choices=("proxmox", "docker", "proxy"), help="check one area")
    doctor.add_argument(
        "--template", action="append", choices=("static", "php", "node", "mysql", "postgres"), help="start only these"
    )
    doctor.set_defaults(func=_doctor)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``cloudfaster`` console script."""
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
