"""Messages shared by several screens and the app."""

from __future__ import annotations

from textual.message import Message
from textual.worker import Worker, WorkerState


class WorkerFailed(Message):
    """A worker on a screen or modal ended with an error the worker did not handle itself."""

    def __init__(self, worker_name: str, error: BaseException) -> None:
        super().__init__()
        self.worker_name = worker_name
        """The name of the worker that failed (its function name)."""
        self.error = error
        """The exception the worker raised."""


def forward_worker_error(node: object, event: Worker.StateChanged) -> None:
    """Send a failed worker's error to the app, which shows it once (Worker.StateChanged does not bubble)."""
    from textual.dom import DOMNode

    if event.state != WorkerState.ERROR or not isinstance(node, DOMNode):
        return
    error = event.worker.error
    if error is not None:
        node.app.post_message(WorkerFailed(event.worker.name, error))
