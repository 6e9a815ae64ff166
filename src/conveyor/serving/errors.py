"""The one error a request can cause, carrying the HTTP status it becomes."""

from __future__ import annotations

from conveyor.errors import ConveyorError


class RequestError(ConveyorError, ValueError):
    """A request the gateway refuses: ``status`` is its HTTP status, ``field`` what was wrong.

    400 malformed JSON or body, 404 unknown model or version, 413 body too large,
    415 content type that is not JSON, 422 inputs that do not match the model's signature.

    >>> RequestError(422, "column 'age' is missing", field="age").status
    422
    """

    def __init__(
        self, status: int, message: str, *, field: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.field = field

    def body(self) -> dict[str, str]:
        """``{"error": message, "field"?: field}`` for the JSON error response."""
        found = {"error": self.message}
        if self.field is not None:
            found["field"] = self.field
        return found
