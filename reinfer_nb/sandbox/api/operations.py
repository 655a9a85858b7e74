"""The operations the sandbox implements: spec ``operationId`` to handler.

Every other operation of the spec answers 501 (see :mod:`.routing`). A handler takes a
:class:`.access.Call` and the operation's path parameters, by the spec's names.
"""

from __future__ import annotations

from . import buckets, comments, datasets, media, resources, sources, statistics, streams
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
    "createProject": resources.create_project,
    "updateProject": resources.update_project,
    "deleteProject": resources.delete_project,
    "getProjectResourceCounts": resources.project_resource_counts,
    # buckets
    "getAllBuckets": buckets.list_buckets,
    "getBucketsByOwner": buckets.list_project_buckets,
    "getBucket": buckets.get_bucket,
    "getBucketById": buckets.get_bucket_by_id,
    "createBucket": buckets.create_bucket,
    "updateBucket": buckets.update_bucket,
    "deleteBucket": buckets.delete_bucket,
    "getBucketStatistics": buckets.bucket_statistics,
    # sources
    "getAllSources": sources.list_sources,
    "getAllSourcesInProject": sources.list_project_sources,
    "getSource": sources.get_source,
    "getSourceById": sources.get_source_by_id,
    "createSource": sources.create_source,
    "updateSource": sources.update_source,
    "deleteSource": sources.delete_source,
    "getSourceStatistics": statistics.source_statistics,
    # comments and their files
    "getSourceComments": comments.list_comments,
    "addComments": comments.add_comments,
    "getComment": comments.get_comment,
    "syncComments": comments.sync_comments,
    "deleteComment": comments.delete_comments,
    "setCommentAudio": media.set_audio,
    "getCommentAudio": media.get_audio,
    "uploadCommentAttachment": media.upload_attachment,
    "getAttachment": media.get_attachment,
    # datasets, the query, annotations, statistics, validation
    "getAllDatasets": datasets.list_datasets,
    "getAllDatasetsInProject": datasets.list_project_datasets,
    "getDataset": datasets.get_dataset,
    "createDataset": datasets.create_dataset,
    "updateDataset": datasets.update_dataset,
    "deleteDatasetV1": datasets.delete_dataset,
    "DeleteDatasetById": datasets.delete_dataset_by_id,
    "queryComments": comments.query_dataset,
    "getLabellings": comments.get_labellings,
    "updateCommentLabelling": comments.update_labelling,
    "syncAnnotations": comments.sync_annotations,
    "getDatasetStatistics": statistics.dataset_statistics,
    "getDatasetSummary": statistics.dataset_summary,
    "getLabelValidation": statistics.label_validation,
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
