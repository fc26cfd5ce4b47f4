from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TimeAxis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIME_AXIS_UNSPECIFIED: _ClassVar[TimeAxis]
    TIME_AXIS_COMMIT: _ClassVar[TimeAxis]
    TIME_AXIS_EFFECTIVE: _ClassVar[TimeAxis]

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_OUTGOING: _ClassVar[Direction]
    DIRECTION_INCOMING: _ClassVar[Direction]
    DIRECTION_BOTH: _ClassVar[Direction]

class MissReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MISS_REASON_UNSPECIFIED: _ClassVar[MissReason]
    MISS_REASON_NOT_FOUND: _ClassVar[MissReason]
    MISS_REASON_EXPIRED: _ClassVar[MissReason]
    MISS_REASON_STALE: _ClassVar[MissReason]

class HealthStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEALTH_STATUS_UNSPECIFIED: _ClassVar[HealthStatus]
    HEALTH_STATUS_SERVING: _ClassVar[HealthStatus]
    HEALTH_STATUS_DEGRADED: _ClassVar[HealthStatus]
    HEALTH_STATUS_NOT_SERVING: _ClassVar[HealthStatus]

class ShardState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHARD_STATE_UNSPECIFIED: _ClassVar[ShardState]
    SHARD_STATE_RECOVERING: _ClassVar[ShardState]
    SHARD_STATE_SERVING: _ClassVar[ShardState]
    SHARD_STATE_POISONED: _ClassVar[ShardState]
TIME_AXIS_UNSPECIFIED: TimeAxis
TIME_AXIS_COMMIT: TimeAxis
TIME_AXIS_EFFECTIVE: TimeAxis
DIRECTION_UNSPECIFIED: Direction
DIRECTION_OUTGOING: Direction
DIRECTION_INCOMING: Direction
DIRECTION_BOTH: Direction
MISS_REASON_UNSPECIFIED: MissReason
MISS_REASON_NOT_FOUND: MissReason
MISS_REASON_EXPIRED: MissReason
MISS_REASON_STALE: MissReason
HEALTH_STATUS_UNSPECIFIED: HealthStatus
HEALTH_STATUS_SERVING: HealthStatus
HEALTH_STATUS_DEGRADED: HealthStatus
HEALTH_STATUS_NOT_SERVING: HealthStatus
SHARD_STATE_UNSPECIFIED: ShardState
SHARD_STATE_RECOVERING: ShardState
SHARD_STATE_SERVING: ShardState
SHARD_STATE_POISONED: ShardState

class Document(_message.Message):
    __slots__ = ("doc_id", "name", "description", "metadata", "created_at", "updated_at", "version", "node_count")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    name: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    created_at: int
    updated_at: int
    version: int
    node_count: int
    def __init__(self, doc_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., created_at: _Optional[int] = ..., updated_at: _Optional[int] = ..., version: _Optional[int] = ..., node_count: _Optional[int] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("node_id", "parent_id", "position", "title", "summary", "text", "start_page", "end_page", "line_num", "extra_json", "children", "has_children")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_PAGE_FIELD_NUMBER: _ClassVar[int]
    END_PAGE_FIELD_NUMBER: _ClassVar[int]
    LINE_NUM_FIELD_NUMBER: _ClassVar[int]
    EXTRA_JSON_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    HAS_CHILDREN_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    parent_id: str
    position: int
    title: str
    summary: str
    text: str
    start_page: int
    end_page: int
    line_num: int
    extra_json: str
    children: _containers.RepeatedCompositeFieldContainer[Node]
    has_children: bool
    def __init__(self, node_id: _Optional[str] = ..., parent_id: _Optional[str] = ..., position: _Optional[int] = ..., title: _Optional[str] = ..., summary: _Optional[str] = ..., text: _Optional[str] = ..., start_page: _Optional[int] = ..., end_page: _Optional[int] = ..., line_num: _Optional[int] = ..., extra_json: _Optional[str] = ..., children: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., has_children: _Optional[bool] = ...) -> None: ...

class NodeInput(_message.Message):
    __slots__ = ("node_id", "title", "summary", "text", "start_page", "end_page", "line_num", "extra_json", "children")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_PAGE_FIELD_NUMBER: _ClassVar[int]
    END_PAGE_FIELD_NUMBER: _ClassVar[int]
    LINE_NUM_FIELD_NUMBER: _ClassVar[int]
    EXTRA_JSON_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    title: str
    summary: str
    text: str
    start_page: int
    end_page: int
    line_num: int
    extra_json: str
    children: _containers.RepeatedCompositeFieldContainer[NodeInput]
    def __init__(self, node_id: _Optional[str] = ..., title: _Optional[str] = ..., summary: _Optional[str] = ..., text: _Optional[str] = ..., start_page: _Optional[int] = ..., end_page: _Optional[int] = ..., line_num: _Optional[int] = ..., extra_json: _Optional[str] = ..., children: _Optional[_Iterable[_Union[NodeInput, _Mapping]]] = ...) -> None: ...

class Version(_message.Message):
    __slots__ = ("version", "commit_time", "effective_time", "message", "nodes_changed", "committed_by")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NODES_CHANGED_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    version: int
    commit_time: int
    effective_time: int
    message: str
    nodes_changed: int
    committed_by: str
    def __init__(self, version: _Optional[int] = ..., commit_time: _Optional[int] = ..., effective_time: _Optional[int] = ..., message: _Optional[str] = ..., nodes_changed: _Optional[int] = ..., committed_by: _Optional[str] = ...) -> None: ...

class AsOf(_message.Message):
    __slots__ = ("time", "axis")
    TIME_FIELD_NUMBER: _ClassVar[int]
    AXIS_FIELD_NUMBER: _ClassVar[int]
    time: int
    axis: TimeAxis
    def __init__(self, time: _Optional[int] = ..., axis: _Optional[_Union[TimeAxis, str]] = ...) -> None: ...

class ReadAt(_message.Message):
    __slots__ = ("version", "as_of")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    version: int
    as_of: AsOf
    def __init__(self, version: _Optional[int] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class DocRef(_message.Message):
    __slots__ = ("doc_id", "version")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    version: int
    def __init__(self, doc_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class PutDocumentRequest(_message.Message):
    __slots__ = ("doc_id", "name", "description", "metadata", "roots", "overwrite", "transaction_id", "effective_time", "message", "commit_time")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    COMMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    name: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    roots: _containers.RepeatedCompositeFieldContainer[NodeInput]
    overwrite: bool
    transaction_id: str
    effective_time: int
    message: str
    commit_time: int
    def __init__(self, doc_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., roots: _Optional[_Iterable[_Union[NodeInput, _Mapping]]] = ..., overwrite: _Optional[bool] = ..., transaction_id: _Optional[str] = ..., effective_time: _Optional[int] = ..., message: _Optional[str] = ..., commit_time: _Optional[int] = ...) -> None: ...

class PutDocumentResponse(_message.Message):
    __slots__ = ("document", "version")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    document: Document
    version: Version
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ..., version: _Optional[_Union[Version, _Mapping]] = ...) -> None: ...

class GetDocumentRequest(_message.Message):
    __slots__ = ("doc_id", "read_at", "include_tree", "include_text", "transaction_id")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TREE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TEXT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    read_at: ReadAt
    include_tree: bool
    include_text: bool
    transaction_id: str
    def __init__(self, doc_id: _Optional[str] = ..., read_at: _Optional[_Union[ReadAt, _Mapping]] = ..., include_tree: _Optional[bool] = ..., include_text: _Optional[bool] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class GetDocumentResponse(_message.Message):
    __slots__ = ("document", "roots")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    document: Document
    roots: _containers.RepeatedCompositeFieldContainer[Node]
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ..., roots: _Optional[_Iterable[_Union[Node, _Mapping]]] = ...) -> None: ...

class ListDocumentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "id_prefix", "metadata_filter")
    class MetadataFilterEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ID_PREFIX_FIELD_NUMBER: _ClassVar[int]
    METADATA_FILTER_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    id_prefix: str
    metadata_filter: _containers.ScalarMap[str, str]
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., id_prefix: _Optional[str] = ..., metadata_filter: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListDocumentsResponse(_message.Message):
    __slots__ = ("documents", "next_page_token")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[Document]
    next_page_token: str
    def __init__(self, documents: _Optional[_Iterable[_Union[Document, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("doc_id", "expected_version")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    expected_version: int
    def __init__(self, doc_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ("nodes_deleted", "versions_deleted")
    NODES_DELETED_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_DELETED_FIELD_NUMBER: _ClassVar[int]
    nodes_deleted: int
    versions_deleted: int
    def __init__(self, nodes_deleted: _Optional[int] = ..., versions_deleted: _Optional[int] = ...) -> None: ...

class ListVersionsRequest(_message.Message):
    __slots__ = ("doc_id", "page_size", "page_token")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    page_size: int
    page_token: str
    def __init__(self, doc_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[Version]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[Version, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetNodeRequest(_message.Message):
    __slots__ = ("doc_id", "node_id", "read_at", "include_text", "transaction_id")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TEXT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    node_id: str
    read_at: ReadAt
    include_text: bool
    transaction_id: str
    def __init__(self, doc_id: _Optional[str] = ..., node_id: _Optional[str] = ..., read_at: _Optional[_Union[ReadAt, _Mapping]] = ..., include_text: _Optional[bool] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class GetNodeResponse(_message.Message):
    __slots__ = ("node", "version")
    NODE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    node: Node
    version: int
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class GetSubtreeRequest(_message.Message):
    __slots__ = ("doc_id", "node_id", "max_depth", "include_text", "read_at", "transaction_id")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TEXT_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    node_id: str
    max_depth: int
    include_text: bool
    read_at: ReadAt
    transaction_id: str
    def __init__(self, doc_id: _Optional[str] = ..., node_id: _Optional[str] = ..., max_depth: _Optional[int] = ..., include_text: _Optional[bool] = ..., read_at: _Optional[_Union[ReadAt, _Mapping]] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class GetSubtreeResponse(_message.Message):
    __slots__ = ("roots", "version")
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    roots: _containers.RepeatedCompositeFieldContainer[Node]
    version: int
    def __init__(self, roots: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., version: _Optional[int] = ...) -> None: ...

class GetChildrenRequest(_message.Message):
    __slots__ = ("doc_id", "node_id", "include_text", "read_at", "transaction_id", "page_size", "page_token")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TEXT_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    node_id: str
    include_text: bool
    read_at: ReadAt
    transaction_id: str
    page_size: int
    page_token: str
    def __init__(self, doc_id: _Optional[str] = ..., node_id: _Optional[str] = ..., include_text: _Optional[bool] = ..., read_at: _Optional[_Union[ReadAt, _Mapping]] = ..., transaction_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetChildrenResponse(_message.Message):
    __slots__ = ("children", "next_page_token", "version")
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    children: _containers.RepeatedCompositeFieldContainer[Node]
    next_page_token: str
    version: int
    def __init__(self, children: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetAncestorsRequest(_message.Message):
    __slots__ = ("doc_id", "node_id", "include_self", "read_at", "transaction_id")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SELF_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    node_id: str
    include_self: bool
    read_at: ReadAt
    transaction_id: str
    def __init__(self, doc_id: _Optional[str] = ..., node_id: _Optional[str] = ..., include_self: _Optional[bool] = ..., read_at: _Optional[_Union[ReadAt, _Mapping]] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class GetAncestorsResponse(_message.Message):
    __slots__ = ("ancestors", "version")
    ANCESTORS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ancestors: _containers.RepeatedCompositeFieldContainer[Node]
    version: int
    def __init__(self, ancestors: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., version: _Optional[int] = ...) -> None: ...

class InsertNodeRequest(_message.Message):
    __slots__ = ("doc_id", "parent_id", "position", "node", "transaction_id", "effective_time", "message")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    parent_id: str
    position: int
    node: NodeInput
    transaction_id: str
    effective_time: int
    message: str
    def __init__(self, doc_id: _Optional[str] = ..., parent_id: _Optional[str] = ..., position: _Optional[int] = ..., node: _Optional[_Union[NodeInput, _Mapping]] = ..., transaction_id: _Optional[str] = ..., effective_time: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class InsertNodeResponse(_message.Message):
    __slots__ = ("node", "nodes_inserted", "version")
    NODE_FIELD_NUMBER: _ClassVar[int]
    NODES_INSERTED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    node: Node
    nodes_inserted: int
    version: Version
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., nodes_inserted: _Optional[int] = ..., version: _Optional[_Union[Version, _Mapping]] = ...) -> None: ...

class UpdateNodeRequest(_message.Message):
    __slots__ = ("doc_id", "node_id", "node", "update_mask", "transaction_id", "effective_time", "message")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    node_id: str
    node: NodeInput
    update_mask: _field_mask_pb2.FieldMask
    transaction_id: str
    effective_time: int
    message: str
    def __init__(self, doc_id: _Optional[str] = ..., node_id: _Optional[str] = ..., node: _Optional[_Union[NodeInput, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., transaction_id: _Optional[str] = ..., effective_time: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class UpdateNodeResponse(_message.Message):
    __slots__ = ("node", "version")
    NODE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    node: Node
    version: Version
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., version: _Optional[_Union[Version, _Mapping]] = ...) -> None: ...

class MoveNodeRequest(_message.Message):
    __slots__ = ("doc_id", "node_id", "new_parent_id", "position", "transaction_id", "effective_time", "message")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    node_id: str
    new_parent_id: str
    position: int
    transaction_id: str
    effective_time: int
    message: str
    def __init__(self, doc_id: _Optional[str] = ..., node_id: _Optional[str] = ..., new_parent_id: _Optional[str] = ..., position: _Optional[int] = ..., transaction_id: _Optional[str] = ..., effective_time: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class MoveNodeResponse(_message.Message):
    __slots__ = ("node", "version")
    NODE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    node: Node
    version: Version
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., version: _Optional[_Union[Version, _Mapping]] = ...) -> None: ...

class DeleteNodeRequest(_message.Message):
    __slots__ = ("doc_id", "node_id", "transaction_id", "effective_time", "message")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    node_id: str
    transaction_id: str
    effective_time: int
    message: str
    def __init__(self, doc_id: _Optional[str] = ..., node_id: _Optional[str] = ..., transaction_id: _Optional[str] = ..., effective_time: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class DeleteNodeResponse(_message.Message):
    __slots__ = ("nodes_deleted", "version")
    NODES_DELETED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    nodes_deleted: int
    version: Version
    def __init__(self, nodes_deleted: _Optional[int] = ..., version: _Optional[_Union[Version, _Mapping]] = ...) -> None: ...

class SearchNodesRequest(_message.Message):
    __slots__ = ("query", "doc_id", "limit", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    doc_id: str
    limit: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., doc_id: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("doc_id", "node_id", "title", "score", "snippet")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    node_id: str
    title: str
    score: float
    snippet: str
    def __init__(self, doc_id: _Optional[str] = ..., node_id: _Optional[str] = ..., title: _Optional[str] = ..., score: _Optional[float] = ..., snippet: _Optional[str] = ...) -> None: ...

class SearchNodesResponse(_message.Message):
    __slots__ = ("hits", "next_page_token")
    HITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    next_page_token: str
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetVersionAsOfRequest(_message.Message):
    __slots__ = ("doc_id", "as_of")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    as_of: AsOf
    def __init__(self, doc_id: _Optional[str] = ..., as_of: _Optional[_Union[AsOf, _Mapping]] = ...) -> None: ...

class GetVersionAsOfResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: Version
    def __init__(self, version: _Optional[_Union[Version, _Mapping]] = ...) -> None: ...

class DiffVersionsRequest(_message.Message):
    __slots__ = ("doc_id", "from_version", "to_version")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    from_version: int
    to_version: int
    def __init__(self, doc_id: _Optional[str] = ..., from_version: _Optional[int] = ..., to_version: _Optional[int] = ...) -> None: ...

class NodeChange(_message.Message):
    __slots__ = ("node_id", "fields")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, node_id: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ...) -> None: ...

class NodeMove(_message.Message):
    __slots__ = ("node_id", "old_parent_id", "old_position", "new_parent_id", "new_position")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    OLD_PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    OLD_POSITION_FIELD_NUMBER: _ClassVar[int]
    NEW_PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_POSITION_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    old_parent_id: str
    old_position: int
    new_parent_id: str
    new_position: int
    def __init__(self, node_id: _Optional[str] = ..., old_parent_id: _Optional[str] = ..., old_position: _Optional[int] = ..., new_parent_id: _Optional[str] = ..., new_position: _Optional[int] = ...) -> None: ...

class DiffVersionsResponse(_message.Message):
    __slots__ = ("from_version", "to_version", "added", "removed", "changed", "moved", "committed_by")
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    MOVED_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    from_version: int
    to_version: int
    added: _containers.RepeatedScalarFieldContainer[str]
    removed: _containers.RepeatedScalarFieldContainer[str]
    changed: _containers.RepeatedCompositeFieldContainer[NodeChange]
    moved: _containers.RepeatedCompositeFieldContainer[NodeMove]
    committed_by: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, from_version: _Optional[int] = ..., to_version: _Optional[int] = ..., added: _Optional[_Iterable[str]] = ..., removed: _Optional[_Iterable[str]] = ..., changed: _Optional[_Iterable[_Union[NodeChange, _Mapping]]] = ..., moved: _Optional[_Iterable[_Union[NodeMove, _Mapping]]] = ..., committed_by: _Optional[_Iterable[str]] = ...) -> None: ...

class CrossReference(_message.Message):
    __slots__ = ("from_doc_id", "from_node_id", "to_doc_id", "to_node_id", "kind", "label", "created_at", "from_namespace", "to_namespace")
    FROM_DOC_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TO_DOC_ID_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FROM_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TO_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    from_doc_id: str
    from_node_id: str
    to_doc_id: str
    to_node_id: str
    kind: str
    label: str
    created_at: int
    from_namespace: str
    to_namespace: str
    def __init__(self, from_doc_id: _Optional[str] = ..., from_node_id: _Optional[str] = ..., to_doc_id: _Optional[str] = ..., to_node_id: _Optional[str] = ..., kind: _Optional[str] = ..., label: _Optional[str] = ..., created_at: _Optional[int] = ..., from_namespace: _Optional[str] = ..., to_namespace: _Optional[str] = ...) -> None: ...

class AddCrossReferenceRequest(_message.Message):
    __slots__ = ("reference",)
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    reference: CrossReference
    def __init__(self, reference: _Optional[_Union[CrossReference, _Mapping]] = ...) -> None: ...

class AddCrossReferenceResponse(_message.Message):
    __slots__ = ("reference",)
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    reference: CrossReference
    def __init__(self, reference: _Optional[_Union[CrossReference, _Mapping]] = ...) -> None: ...

class RemoveCrossReferenceRequest(_message.Message):
    __slots__ = ("from_doc_id", "from_node_id", "to_doc_id", "to_node_id", "kind", "to_namespace")
    FROM_DOC_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TO_DOC_ID_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TO_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    from_doc_id: str
    from_node_id: str
    to_doc_id: str
    to_node_id: str
    kind: str
    to_namespace: str
    def __init__(self, from_doc_id: _Optional[str] = ..., from_node_id: _Optional[str] = ..., to_doc_id: _Optional[str] = ..., to_node_id: _Optional[str] = ..., kind: _Optional[str] = ..., to_namespace: _Optional[str] = ...) -> None: ...

class RemoveCrossReferenceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCrossReferencesRequest(_message.Message):
    __slots__ = ("doc_id", "node_id", "direction", "max_hops", "kind", "page_size", "page_token")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    MAX_HOPS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    node_id: str
    direction: Direction
    max_hops: int
    kind: str
    page_size: int
    page_token: str
    def __init__(self, doc_id: _Optional[str] = ..., node_id: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., max_hops: _Optional[int] = ..., kind: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class CrossReferenceHit(_message.Message):
    __slots__ = ("reference", "hops")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    HOPS_FIELD_NUMBER: _ClassVar[int]
    reference: CrossReference
    hops: int
    def __init__(self, reference: _Optional[_Union[CrossReference, _Mapping]] = ..., hops: _Optional[int] = ...) -> None: ...

class GetCrossReferencesResponse(_message.Message):
    __slots__ = ("references", "next_page_token")
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    references: _containers.RepeatedCompositeFieldContainer[CrossReferenceHit]
    next_page_token: str
    def __init__(self, references: _Optional[_Iterable[_Union[CrossReferenceHit, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StoreToolResultRequest(_message.Message):
    __slots__ = ("tool_name", "args_json", "result_json", "ttl_seconds", "depends_on")
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    tool_name: str
    args_json: str
    result_json: str
    ttl_seconds: int
    depends_on: _containers.RepeatedCompositeFieldContainer[DocRef]
    def __init__(self, tool_name: _Optional[str] = ..., args_json: _Optional[str] = ..., result_json: _Optional[str] = ..., ttl_seconds: _Optional[int] = ..., depends_on: _Optional[_Iterable[_Union[DocRef, _Mapping]]] = ...) -> None: ...

class StoreToolResultResponse(_message.Message):
    __slots__ = ("args_json", "stored_at", "expires_at", "depends_on")
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    STORED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    args_json: str
    stored_at: int
    expires_at: int
    depends_on: _containers.RepeatedCompositeFieldContainer[DocRef]
    def __init__(self, args_json: _Optional[str] = ..., stored_at: _Optional[int] = ..., expires_at: _Optional[int] = ..., depends_on: _Optional[_Iterable[_Union[DocRef, _Mapping]]] = ...) -> None: ...

class GetToolResultRequest(_message.Message):
    __slots__ = ("tool_name", "args_json")
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    tool_name: str
    args_json: str
    def __init__(self, tool_name: _Optional[str] = ..., args_json: _Optional[str] = ...) -> None: ...

class GetToolResultResponse(_message.Message):
    __slots__ = ("hit", "result_json", "stored_at", "expires_at", "miss_reason", "depends_on")
    HIT_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    STORED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    MISS_REASON_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    hit: bool
    result_json: str
    stored_at: int
    expires_at: int
    miss_reason: MissReason
    depends_on: _containers.RepeatedCompositeFieldContainer[DocRef]
    def __init__(self, hit: _Optional[bool] = ..., result_json: _Optional[str] = ..., stored_at: _Optional[int] = ..., expires_at: _Optional[int] = ..., miss_reason: _Optional[_Union[MissReason, str]] = ..., depends_on: _Optional[_Iterable[_Union[DocRef, _Mapping]]] = ...) -> None: ...

class BeginTransactionRequest(_message.Message):
    __slots__ = ("doc_id", "timeout_ms")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    timeout_ms: int
    def __init__(self, doc_id: _Optional[str] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class BeginTransactionResponse(_message.Message):
    __slots__ = ("transaction_id", "snapshot_version", "expires_at")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    snapshot_version: int
    expires_at: int
    def __init__(self, transaction_id: _Optional[str] = ..., snapshot_version: _Optional[int] = ..., expires_at: _Optional[int] = ...) -> None: ...

class CommitTransactionRequest(_message.Message):
    __slots__ = ("transaction_id", "effective_time", "message")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    effective_time: int
    message: str
    def __init__(self, transaction_id: _Optional[str] = ..., effective_time: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class CommitTransactionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: Version
    def __init__(self, version: _Optional[_Union[Version, _Mapping]] = ...) -> None: ...

class RollbackTransactionRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class RollbackTransactionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("doc_ids", "prefix", "resume_token", "from_versions", "include_contents")
    DOC_IDS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CONTENTS_FIELD_NUMBER: _ClassVar[int]
    doc_ids: _containers.RepeatedScalarFieldContainer[str]
    prefix: str
    resume_token: bytes
    from_versions: FromVersions
    include_contents: bool
    def __init__(self, doc_ids: _Optional[_Iterable[str]] = ..., prefix: _Optional[str] = ..., resume_token: _Optional[bytes] = ..., from_versions: _Optional[_Union[FromVersions, _Mapping]] = ..., include_contents: _Optional[bool] = ...) -> None: ...

class FromVersions(_message.Message):
    __slots__ = ("versions",)
    class VersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.ScalarMap[str, int]
    def __init__(self, versions: _Optional[_Mapping[str, int]] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("version", "deleted", "caught_up", "lagged", "resume_token")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    LAGGED_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    version: VersionEvent
    deleted: DeleteEvent
    caught_up: CaughtUp
    lagged: Lagged
    resume_token: bytes
    def __init__(self, version: _Optional[_Union[VersionEvent, _Mapping]] = ..., deleted: _Optional[_Union[DeleteEvent, _Mapping]] = ..., caught_up: _Optional[_Union[CaughtUp, _Mapping]] = ..., lagged: _Optional[_Union[Lagged, _Mapping]] = ..., resume_token: _Optional[bytes] = ...) -> None: ...

class VersionEvent(_message.Message):
    __slots__ = ("doc_id", "version", "created", "added", "removed", "updated", "moved", "header_changed", "nodes", "contents_unavailable")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    MOVED_FIELD_NUMBER: _ClassVar[int]
    HEADER_CHANGED_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    CONTENTS_UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    version: Version
    created: bool
    added: _containers.RepeatedScalarFieldContainer[str]
    removed: _containers.RepeatedScalarFieldContainer[str]
    updated: _containers.RepeatedScalarFieldContainer[str]
    moved: _containers.RepeatedScalarFieldContainer[str]
    header_changed: bool
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    contents_unavailable: bool
    def __init__(self, doc_id: _Optional[str] = ..., version: _Optional[_Union[Version, _Mapping]] = ..., created: _Optional[bool] = ..., added: _Optional[_Iterable[str]] = ..., removed: _Optional[_Iterable[str]] = ..., updated: _Optional[_Iterable[str]] = ..., moved: _Optional[_Iterable[str]] = ..., header_changed: _Optional[bool] = ..., nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., contents_unavailable: _Optional[bool] = ...) -> None: ...

class DeleteEvent(_message.Message):
    __slots__ = ("doc_id", "last_version", "deleted_at")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_VERSION_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    last_version: int
    deleted_at: int
    def __init__(self, doc_id: _Optional[str] = ..., last_version: _Optional[int] = ..., deleted_at: _Optional[int] = ...) -> None: ...

class CaughtUp(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Lagged(_message.Message):
    __slots__ = ("changes_lost", "behind")
    CHANGES_LOST_FIELD_NUMBER: _ClassVar[int]
    BEHIND_FIELD_NUMBER: _ClassVar[int]
    changes_lost: bool
    behind: int
    def __init__(self, changes_lost: _Optional[bool] = ..., behind: _Optional[int] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShardHealth(_message.Message):
    __slots__ = ("shard_id", "state", "wal_durable_lsn", "wal_last_lsn", "detail", "corruption")
    SHARD_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    WAL_DURABLE_LSN_FIELD_NUMBER: _ClassVar[int]
    WAL_LAST_LSN_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CORRUPTION_FIELD_NUMBER: _ClassVar[int]
    shard_id: int
    state: ShardState
    wal_durable_lsn: int
    wal_last_lsn: int
    detail: str
    corruption: LogCorruption
    def __init__(self, shard_id: _Optional[int] = ..., state: _Optional[_Union[ShardState, str]] = ..., wal_durable_lsn: _Optional[int] = ..., wal_last_lsn: _Optional[int] = ..., detail: _Optional[str] = ..., corruption: _Optional[_Union[LogCorruption, _Mapping]] = ...) -> None: ...

class LogCorruption(_message.Message):
    __slots__ = ("file", "offset", "reason")
    FILE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    file: str
    offset: int
    reason: str
    def __init__(self, file: _Optional[str] = ..., offset: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("status", "shards")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    status: HealthStatus
    shards: _containers.RepeatedCompositeFieldContainer[ShardHealth]
    def __init__(self, status: _Optional[_Union[HealthStatus, str]] = ..., shards: _Optional[_Iterable[_Union[ShardHealth, _Mapping]]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShardStats(_message.Message):
    __slots__ = ("shard_id", "documents", "nodes", "versions", "wal_bytes", "cache_hits", "cache_misses", "active_transactions", "state", "unavailable")
    SHARD_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    WAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    CACHE_MISSES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    shard_id: int
    documents: int
    nodes: int
    versions: int
    wal_bytes: int
    cache_hits: int
    cache_misses: int
    active_transactions: int
    state: ShardState
    unavailable: str
    def __init__(self, shard_id: _Optional[int] = ..., documents: _Optional[int] = ..., nodes: _Optional[int] = ..., versions: _Optional[int] = ..., wal_bytes: _Optional[int] = ..., cache_hits: _Optional[int] = ..., cache_misses: _Optional[int] = ..., active_transactions: _Optional[int] = ..., state: _Optional[_Union[ShardState, str]] = ..., unavailable: _Optional[str] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("documents", "nodes", "versions", "wal_bytes", "cache_hits", "cache_misses", "cache_hit_rate", "active_transactions", "uptime_seconds", "shards", "partial")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    WAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    CACHE_MISSES_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    documents: int
    nodes: int
    versions: int
    wal_bytes: int
    cache_hits: int
    cache_misses: int
    cache_hit_rate: float
    active_transactions: int
    uptime_seconds: int
    shards: _containers.RepeatedCompositeFieldContainer[ShardStats]
    partial: bool
    def __init__(self, documents: _Optional[int] = ..., nodes: _Optional[int] = ..., versions: _Optional[int] = ..., wal_bytes: _Optional[int] = ..., cache_hits: _Optional[int] = ..., cache_misses: _Optional[int] = ..., cache_hit_rate: _Optional[float] = ..., active_transactions: _Optional[int] = ..., uptime_seconds: _Optional[int] = ..., shards: _Optional[_Iterable[_Union[ShardStats, _Mapping]]] = ..., partial: _Optional[bool] = ...) -> None: ...
