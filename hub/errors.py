"""The hub's one error hierarchy.

Each error carries a FHIR issue code (``code``, from http://hl7.org/fhir/valueset-issue-type.html) and the
HTTP status it deserves; :mod:`hub.fhir.outcomes` turns any of them into an OperationOutcome, and
:mod:`hub.hl7.ack` turns the HL7 ones into an ACK with an ERR segment.

    HubError
    ├── InvalidInput            invalid      400
    │   └── UnprocessableEntity processing   422
    ├── Unauthorized            login        401
    ├── Forbidden               forbidden    403
    ├── NotFound                not-found    404
    │   └── Gone                deleted      410
    ├── MethodNotAllowed        not-supported 405
    ├── Conflict                conflict     409
    ├── PreconditionFailed      conflict     412
    ├── PayloadTooLarge         too-long     413
    ├── UnsupportedMediaType    not-supported 415
    ├── TooManyRequests         throttled    429
    ├── TransientError          transient    503   (database or broker unavailable; retry)
    ├── Hl7Error                             (ACK AE/AR with an HL7 table 0357 error code)
    │   ├── Hl7ParseError       AR 100..102  the message cannot be tokenised
    │   ├── Hl7Rejected         AR 200..203  type/version not allowed, oversize, MSH unreadable
    │   └── ConversionError     AE 207       a stored message that the mappings cannot convert
    └── MappingTemplateError                 an invalid template, found at load time
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    code = "exception"
    status = 500

    def __init__(self, message: str, *, expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression


class InvalidInput(HubError):
    code = "invalid"
    status = 400


class UnprocessableEntity(InvalidInput):
    code = "processing"
    status = 422


class Unauthorized(HubError):
    code = "login"
    status = 401


class Forbidden(HubError):
    code = "forbidden"
    status = 403


class NotFound(HubError):
    code = "not-found"
    status = 404


class Gone(NotFound):
    code = "deleted"
    status = 410


class MethodNotAllowed(HubError):
    """The interaction is not offered for this resource type (AuditEvents are written by the hub alone)."""

    code = "not-supported"
    status = 405


class Conflict(HubError):
    code = "conflict"
    status = 409


class PreconditionFailed(HubError):
    code = "conflict"
    status = 412


class PayloadTooLarge(HubError):
    code = "too-long"
    status = 413


class UnsupportedMediaType(HubError):
    """A request body in a format other than FHIR JSON."""

    code = "not-supported"
    status = 415


class TooManyRequests(HubError):
    code = "throttled"
    status = 429


class TransientError(HubError):
    """Something outside the hub (database, broker) is unavailable; the operation may be retried."""

    code = "transient"
    status = 503


class Hl7Error(HubError):
    """An HL7 v2 problem, reported in an ACK.

    ``hl7_code`` is from HL7 table 0357 (message error condition codes); ``location`` is an ERR-2 style
    location ``SEG^seq^field^rep^comp`` (for example ``MSH^1^9``).
    """

    code = "invalid"
    status = 400
    ack_code = "AE"
    hl7_code = "207"

    def __init__(
        self,
        message: str,
        *,
        hl7_code: str | None = None,
        location: str | None = None,
        expression: str | None = None,
    ) -> None:
        super().__init__(message, expression=expression)
        if hl7_code is not None:
            self.hl7_code = hl7_code
        self.location = location


class Hl7ParseError(Hl7Error):
    """The bytes are not a readable HL7 v2 message (no MSH, bad encoding characters, …)."""

    ack_code = "AR"
    hl7_code = "100"


class Hl7Rejected(Hl7Error):
    """A readable message that the hub refuses (type, version, size); the sender may fix and resend."""

    ack_code = "AR"
    hl7_code = "200"


class ConversionError(Hl7Error):
    """A stored message that the mappings cannot turn into FHIR; kept and shown to the operator."""

    code = "processing"
    status = 422
    ack_code = "AE"
    hl7_code = "207"


class MappingTemplateError(HubError):
    """A mapping template is invalid; raised at load time with file, line and reason."""

    code = "invalid"
    status = 500

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(f"{where}{message}")
        self.file = file
        self.line = line
