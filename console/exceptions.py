"""Domain exceptions raised by services; views and the API map them to responses."""


class ApplicationError(Exception):
    """Base class: a request the domain refuses. `code` is stable and machine-readable."""

    status = 400
    default_code = "invalid"
    # Which change of a change set raised it (its position), set by reviews' dry run and
    # apply: callers proposing many changes name the input at fault (a project import).
    change_position: int | None = None

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field


class DomainError(ApplicationError):
    """The input is understood but breaks a rule (bad value, illegal transition)."""


class NotAllowed(ApplicationError):
    status = 403
    default_code = "permission_denied"


class NotFound(ApplicationError):
    status = 404
    default_code = "not_found"


class Conflict(ApplicationError):
    """The change collides with existing state (a name already taken, a concurrent edit)."""

    status = 409
    default_code = "conflict"
