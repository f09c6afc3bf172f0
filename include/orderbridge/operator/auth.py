"""Who is asking, through the API server's auth manager: every route depends on ``reader`` or ``actor``."""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, HTTPException, status

RESOURCE = "orderbridge"  # the custom view an auth manager grants (FAB: a permission on this name)


def dag_id(channel: str, account: str) -> str:
    """The DAG of a staging account (``<account>/<sub>`` rows belong to ``<account>``'s DAG)."""
    return f"{channel}_{account.split('/', 1)[0]}"


def can_read(user) -> bool:
    return get_auth_manager().is_authorized_custom_view(method="GET", resource_name=RESOURCE, user=user)


def can_act(user, channel: str | None = None, account: str | None = None) -> bool:
    """May change staging data: the custom view (POST) and running the DAG of that account (any DAG when None)."""
    manager = get_auth_manager()
    details = DagDetails(id=dag_id(channel, account)) if channel and account else None
    return (manager.is_authorized_custom_view(method="POST", resource_name=RESOURCE, user=user)
            and manager.is_authorized_dag(method="PUT", access_entity=DagAccessEntity.RUN, details=details, user=user))


def name_of(user) -> str:
    return user.get_name()


async def reader(user: GetUserDep):
    """The user, if they may look (else 403); ``get_user`` answers 401 without a login."""
    if not can_read(user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: reading orderbridge needs its page's view")
    return user


async def actor(user: GetUserDep):
    """The user, if they may change staging data on some account (else 403); routes check the order's own DAG."""
    if not can_act(user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: read-only; changing orders needs the right to "
                                                       "run DAGs")
    return user


def check_order(user, channel: str, account: str) -> None:
    if not can_act(user, channel, account):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"Forbidden: you may not run DAG {dag_id(channel, account)}")


Reader = Annotated[object, Depends(reader)]
Actor = Annotated[object, Depends(actor)]
