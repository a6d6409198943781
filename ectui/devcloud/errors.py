"""Errors of the dev cloud's APIs and how each service answers them."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the client in the format of the service that raised it."""

    def __init__(
        self, status: int, message: str, *, kind: str | None = None, headers: dict[str, str] | None = None
    ):
        """Remember the status, message and extra headers."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    """A 400 with a message."""
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    """A 404 with a message."""
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    """A 409 with a message."""
    return ApiError(409, message)


def forbidden(message: str) -> ApiError:
    """A 403 with a message."""
    return ApiError(403, message)
