"""TreeStore Python client: a gRPC database for PageIndex-style document trees.

>>> from treestore import TreeStoreClient
>>> with TreeStoreClient("localhost:50051") as ts:
...     ts.health()
"""

from ._base import DEFAULT_ADDRESS, DEFAULT_TIMEOUT, NO_RETRY, RetryPolicy
from .aio import AsyncTransaction, AsyncTreeStoreClient
from .client import Transaction, TreeStoreClient
from .errors import (
    AlreadyExists,
    Conflict,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    TreeStoreError,
    Unauthenticated,
    Unavailable,
)
from .types import (
    CrossReference,
    Diff,
    DocRef,
    Document,
    Health,
    Node,
    NodeChange,
    NodeInput,
    NodeList,
    NodeMove,
    LogCorruption,
    Page,
    SearchHit,
    ShardHealth,
    ShardStats,
    Stats,
    StoredToolResult,
    ToolResult,
    TransactionInfo,
    Version,
    WriteResult,
    from_micros,
    to_micros,
)

__version__ = "0.1.0"

__all__ = [
    "TreeStoreClient", "AsyncTreeStoreClient", "Transaction", "AsyncTransaction",
    "RetryPolicy", "NO_RETRY", "DEFAULT_ADDRESS", "DEFAULT_TIMEOUT",
    "TreeStoreError", "NotFound", "AlreadyExists", "InvalidArgument", "FailedPrecondition",
    "Conflict", "ResourceExhausted", "Unavailable", "DeadlineExceeded", "DataLoss", "Internal",
    "Unauthenticated", "PermissionDenied",
    "Document", "Node", "NodeList", "NodeInput", "Version", "WriteResult", "CrossReference",
    "DocRef", "ToolResult", "StoredToolResult", "SearchHit", "Diff", "NodeChange", "NodeMove",
    "Health", "ShardHealth", "LogCorruption", "Stats", "ShardStats", "Page", "TransactionInfo",
    "to_micros", "from_micros", "__version__",
]
