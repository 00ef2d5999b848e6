"""The service operation kinds: service.create, service.action, service.deploy, service.rollback, service.delete,
and the database ones (service.db-export, service.db-import, service.rotate-db-password, service.db-publish,
service.db-unpublish). Every side effect is a checkpointed, idempotent step, so an operation resumed after a crash
picks up where it stopped."""

from __future__ import annotations

from typing import Any

from cloudfaster.apps.kinds.action import ServiceAction
from cloudfaster.apps.kinds.create import CreateService
from cloudfaster.apps.kinds.database import ExportDatabase, ImportDatabase, RotateDatabasePassword
from cloudfaster.apps.kinds.delete import DeleteService
from cloudfaster.apps.kinds.deploy import DeployService, RollbackService
from cloudfaster.apps.kinds.publish import PublishDatabase, UnpublishDatabase
from cloudfaster.apps.runtime import AppRuntime
from cloudfaster.core.runner.kinds import OperationKind


def all_kinds(rt: AppRuntime) -> list[OperationKind[Any]]:
    """One instance of every service operation kind."""
    return [
        CreateService(rt),
        ServiceAction(rt),
        DeployService(rt),
        RollbackService(rt),
        DeleteService(rt),
        ExportDatabase(rt),
        ImportDatabase(rt),
        RotateDatabasePassword(rt),
        PublishDatabase(rt),
        UnpublishDatabase(rt),
    ]


__all__ = [
    "CreateService",
    "DeleteService",
    "DeployService",
    "ExportDatabase",
    "ImportDatabase",
    "PublishDatabase",
    "RollbackService",
    "RotateDatabasePassword",
    "ServiceAction",
    "UnpublishDatabase",
    "all_kinds",
]
