"""TreeStore Python client: a gRPC database for PageIndex-style document trees.

>>> from treestore import TreeStoreClient
>>> with TreeStoreClient("localhost:50051") as ts:
...     ts.health()
"""

from ._base import DEFAULT_ADDRESS, DEFAULT_TIMEOUT, NO_RETRY, RetryPolicy
from ._watch import WATCH_RESUME, AsyncWatchStream, WatchStream
from .aio import AsyncTransaction, AsyncTreeStoreClient
from .cache import CacheConfig, ReadCacheStats
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
    CaughtUp,
    CrossReference,
    Diff,
    DocRef,
    DeleteEvent,
    Document,
    Health,
    Node,
    NodeChange,
    NodeInput,
    NodeList,
    NodeMove,
    Lagged,
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
    VersionEvent,
    WatchEvent,
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
    "CacheConfig", "ReadCacheStats", "WatchStream", "AsyncWatchStream", "WATCH_RESUME",
    "WatchEvent", "VersionEvent", "DeleteEvent", "CaughtUp", "Lagged",
]
