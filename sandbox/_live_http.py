"""The live server's HTTP conventions, by their former names (they live in :mod:`flagship.sandbox._live`).

Problem+json is :mod:`flagship.sandbox._live._problems`, limits and JSON depth
:mod:`flagship.sandbox._live._limits`, idempotency :mod:`flagship.sandbox._live._idempotency`,
the middlewares :mod:`flagship.sandbox._live._middleware`, OpenAPI :mod:`flagship.sandbox._live._app`.
"""

from flagship.sandbox._live._app import install_openapi, is_coroutine_route
from flagship.sandbox._live._gateway import PRINCIPAL_SCOPE_KEY
from flagship.sandbox._live._idempotency import (
    KEYED_METHODS,
    IdempotencyContext,
    IdempotencyIndex,
    IdempotencyRecord,
    parse_stored_key,
    request_hash,
)
from flagship.sandbox._live._limits import EXEMPT_ENDPOINTS, Limits, json_depth
from flagship.sandbox._live._problems import (
    PROBLEM_JSON,
    ProblemDoc,
    install_problem_handlers,
    problem_response,
)

__all__ = [
    "EXEMPT_ENDPOINTS",
    "KEYED_METHODS",
    "PRINCIPAL_SCOPE_KEY",
    "PROBLEM_JSON",
    "IdempotencyContext",
    "IdempotencyIndex",
    "IdempotencyRecord",
    "Limits",
    "ProblemDoc",
    "install_openapi",
    "install_problem_handlers",
    "is_coroutine_route",
    "json_depth",
    "parse_stored_key",
    "problem_response",
    "request_hash",
]
