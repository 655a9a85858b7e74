"""The operations the sandbox implements: spec ``operationId`` to handler.

Every other operation of the spec answers 501 (see :mod:`.routing`). A handler takes a
:class:`.access.Call` and the operation's path parameters, by the spec's names.
"""

from __future__ import annotations

from . import comments, resources, streams
from .routing import Handler
from .streams import legacy_trigger

__all__ = ["AUTH_ROUTES", "HANDLERS"]

HANDLERS: dict[str, Handler] = {
    # users and projects
    "getUsersV1": resources.list_users_v1,
    "getUsers": resources.list_users,
    "getUserById": resources.get_user,
    "getAllProjectsV1": resources.list_projects_v1,
    "getAllProjects": resources.list_projects,
    "getProject": resources.get_project,
    # sources
    "getAllSources": resources.list_sources,
    "getAllSourcesInProject": resources.list_project_sources,
    "getSource": resources.get_source,
    "getSourceById": resources.get_source_by_id,
    "createSource": resources.create_source,
    "updateSource": resources.update_source,
    # comments
    "getSourceComments": comments.list_comments,
    "addComments": comments.add_comments,
    "getComment": comments.get_comment,
    "syncComments": comments.sync_comments,
    "deleteComment": comments.delete_comments,
    # datasets, the query, labellings
    "getAllDatasets": resources.list_datasets,
    "getAllDatasetsInProject": resources.list_project_datasets,
    "getDataset": resources.get_dataset,
    "createDataset": resources.create_dataset,
    "updateDataset": resources.update_dataset,
    "queryComments": comments.query_dataset,
    "getLabellings": comments.get_labellings,
    "updateCommentLabelling": comments.update_labelling,
    # streams, and their legacy names (triggers)
    "getAllStreams": streams.list_streams,
    "createStream": streams.create_stream,
    "getStreamByName": streams.get_stream,
    "updateStream": streams.update_stream,
    "deleteStream": streams.delete_stream,
    "fetchFromStream": streams.fetch_stream,
    "getStreamResults": streams.stream_results,
    "advanceStream": streams.advance_stream,
    "resetStream": streams.reset_stream,
    "getAllTriggersInDataset": legacy_trigger(streams.list_streams),
    "createTrigger": legacy_trigger(streams.create_stream),
    "getTrigger": legacy_trigger(streams.get_stream),
    "updateTrigger": legacy_trigger(streams.update_stream),
    "deleteTrigger": legacy_trigger(streams.delete_stream),
    "pollTrigger": legacy_trigger(streams.fetch_stream),
    "advanceTrigger": legacy_trigger(streams.advance_stream),
    "resetTrigger": legacy_trigger(streams.reset_stream),
}

# The platform's authentication routes live beside the API, outside the spec's /api paths:
# the official `re` client calls them on every command, and every client checks a login
# with GET /auth/user.
AUTH_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/auth/user", resources.current_user),
    ("POST", "/auth/refresh-user-permissions", resources.refresh_permissions),
]
