"""Every failure a user can see is a :class:`ConveyorError`.

The tree::

    ConveyorError                      exit code 1 unless a subclass says otherwise
    ├── ConfigError (ValueError)       conveyor.yaml / params / settings are wrong
    │   ├── ProjectNotFound            no conveyor.yaml above the working directory
    │   └── FilterSyntaxError          a search filter or order-by that does not parse
    ├── InvalidValue (ValueError)      a value logged or given is of the wrong kind
    ├── NotFoundError (LookupError)    a run, stage, object or file that does not exist
    ├── ConflictError                  the operation clashes with existing state
    │   └── LockHeld                   another `conveyor run` holds the project lock
    ├── PipelineError                  a pipeline could not run as declared
    │   └── CycleError                 the stages depend on each other in a loop
    ├── PathError                      a file Conveyor cannot track (broken or directory link)
    ├── StoreError                     the metadata database failed
    ├── ArtifactError                  the artifact store failed
    │   └── CorruptObject              a stored object does not match its digest
    ├── ModelError                     a model cannot be saved, loaded or used as asked
    │   └── UntrustedModel             the file holds types (or pickled code) not trusted
    ├── BundleError                    a model bundle's files or wheel could not be built
    ├── DataError (ValueError)         a data file cannot be read or used as asked (empty,
    │                                  no target column, unknown format, wrong columns)
    ├── ValidationFailed               data broke its schema (the findings are attached)
    ├── GateFailed                     a model failed one or more quality gates
    ├── PreTrafficFailed               a version failed a check before any user traffic
    ├── DeliveryFailed                 a notification did not reach its target (one attempt)
    └── Interrupted                    the user pressed Ctrl-C (exit code 130)

Messages say what was expected, what came, where, and what to do. The CLI prints
``str(error)`` without a traceback and exits with ``error.exit_code``.
"""

from __future__ import annotations


class ConveyorError(Exception):
    """Root of every error Conveyor reports to a user."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(ConveyorError, ValueError):
    """The project's configuration (conveyor.yaml, params files, settings) is invalid."""


class ProjectNotFound(ConfigError):
    """No ``conveyor.yaml`` was found in the working directory or any parent."""


class InvalidValue(ConveyorError, ValueError):
    """A value logged or passed in is of the wrong kind (a text metric, a negative step)."""


class FilterSyntaxError(ConfigError):
    """A search filter or order-by that does not parse; the message points at the spot.

    The message shows the text with a caret under the offending character::

        invalid filter at position 13: expected a comparison operator (...), found 'auc'
          metrics.auc auc > 0.9
                      ^

    ``offset`` is that character's 0-based index in ``text`` (the message counts from 1).
    """

    def __init__(
        self, reason: str, *, text: str, offset: int, what: str = "filter", hint: str | None = None
    ) -> None:
        shown = "".join(" " if char.isspace() else char for char in text)
        caret = " " * offset + "^"
        super().__init__(
            f"invalid {what} at position {offset + 1}: {reason}\n  {shown}\n  {caret}", hint=hint
        )
        self.reason = reason
        self.text = text
        self.offset = offset


class NotFoundError(ConveyorError, LookupError):
    """A run, stage, artifact or file that was asked for does not exist."""


class ConflictError(ConveyorError):
    """The operation clashes with state that already exists."""


class LockHeld(ConflictError):
    """Another process holds the project's run lock."""


class PipelineError(ConveyorError):
    """The pipeline could not run as declared."""


class CycleError(PipelineError):
    """Stages depend on each other in a loop."""


class PathError(ConveyorError):
    """A path Conveyor cannot hash or store: a broken link, a link to a directory."""


class StoreError(ConveyorError):
    """The metadata store could not be read or written."""


class ArtifactError(ConveyorError):
    """The artifact store could not be read or written."""


class CorruptObject(ArtifactError):
    """A stored object's content does not match its digest; it is never restored."""

    def __init__(self, message: str, *, digest: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.digest = digest


class ModelError(ConveyorError):
    """A model cannot be saved, loaded or asked to predict: wrong type, bad directory, bad input."""


class UntrustedModel(ModelError):
    """Loading the model would call types or unpickle code that the caller did not trust.

    The message names the types; ``trusted=[names]`` (scikit-learn) or ``trusted=True``
    (anything, pickle included) allows them.
    """


class BundleError(ConveyorError):
    """A model bundle could not be built: writing its files or building a wheel failed."""


class DataError(ConveyorError, ValueError):
    """A data file cannot be read or used as asked: empty, unknown format, missing columns."""


class ValidationFailed(ConveyorError):
    """Data broke its schema; ``findings`` says which columns, which checks, how many rows."""

    def __init__(self, message: str, *, findings: object = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.findings = findings


class GateFailed(ConveyorError):
    """A model failed one or more quality gates; ``result`` holds every gate's evidence."""

    def __init__(self, message: str, *, result: object = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


class PreTrafficFailed(ConveyorError):
    """A version failed a pre-traffic check (smoke, compatibility, load) and gets no traffic;
    ``report`` is the :class:`~conveyor.delivery.pretraffic.PreTrafficReport` with the evidence."""

    def __init__(self, message: str, *, report: object = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class DeliveryFailed(ConveyorError):
    """One attempt to deliver a notification (``conveyor.notify``) failed.

    ``retryable``: a connection error, a timeout, 429 or 5xx — worth another attempt;
    ``retry_after``: the seconds the receiver asked to wait (Retry-After), if it said.
    Messages never hold a secret, a signature or a URL's path (Slack's holds a token).
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = 1  # set by the retry loop when it gives up


class Interrupted(ConveyorError):
    """The user interrupted the work (Ctrl-C)."""

    exit_code = 130
