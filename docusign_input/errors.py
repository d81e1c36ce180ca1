"""One exception tree for the whole connector.

Every error carries the exit code the contract gives it (see the README's exit-code table), the
cause, and one sentence that tells the user how to fix it. Library errors (requests, PyJWT,
cryptography, OSError) are translated into these once, at the boundary where they happen; only the
CLI catches them and exits. Messages must never contain a secret: `line` (and so ``str()``)
goes through the redactor, whatever a cause quotes from a server or a setting.
"""

from __future__ import annotations

from .redact import scrub

__all__ = [
    "EXIT_OK",
    "EXIT_UNHEALTHY",
    "EXIT_USAGE",
    "EXIT_DATA",
    "EXIT_INTERNAL",
    "EXIT_IO",
    "EXIT_TEMPORARY",
    "EXIT_ACCESS",
    "EXIT_CONFIG",
    "ConnectorError",
    "ConfigError",
    "AccessDenied",
    "ConsentRequired",
    "MonitorNotEnabled",
    "TemporaryError",
    "RateLimited",
    "TlsFailure",
    "LockHeld",
    "BadAnswer",
    "CursorRejected",
    "TokenRejected",
    "OutputError",
    "CheckpointError",
    "CheckpointUnreadable",
    "InternalError",
    "BackingOff",
]

EXIT_OK = 0
EXIT_UNHEALTHY = 1
EXIT_USAGE = 2
EXIT_DATA = 65  # EX_DATAERR
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug of ours
EXIT_IO = 74  # EX_IOERR
EXIT_TEMPORARY = 75  # EX_TEMPFAIL
EXIT_ACCESS = 77  # EX_NOPERM
EXIT_CONFIG = 78  # EX_CONFIG


class ConnectorError(Exception):
    """Root of every error the connector reports to the user."""

    exit_code: int = 1
    #: Whether the condition can heal without anyone touching this machine (the network comes
    #: back, DocuSign recovers, an admin grants consent in DocuSign): `run --follow` keeps retrying
    #: those with the long backoff instead of exiting, and a scheduled `run` backs off after them
    #: (see engine.scheduled_backoff_s). What needs a change here (settings, disk) does neither.
    heals_outside: bool = False
    #: Whether a retry within seconds may succeed (a blip: a reset, a 503, a 429); a sync retries
    #: those on the spot within its mode's budget (retry.RUN_BACKOFF), others end the sync at once.
    retry_soon: bool = False
    #: The first wait of `--follow`'s backoff after this error; doubles from there up to 15 min.
    #: Problems that need a person are not worth asking DocuSign about again within the minute.
    follow_base_s: float = 2.0

    def __init__(self, cause: str, fix: str = "", *, trace_token: str | None = None) -> None:
        self.cause = cause
        self.fix = fix
        self.trace_token = trace_token
        super().__init__(self.line())

    def line(self) -> str:
        """The one stderr line: cause, fix, and DocuSign's trace token when there is one."""
        text = self.cause.rstrip(".")
        if self.fix:
            fix = self.fix.rstrip(".")
            text += ". " + fix[:1].upper() + fix[1:]
        if self.trace_token:
            text += f" (X-DocuSign-TraceToken {self.trace_token})"
        return scrub(text + ".")


class ConfigError(ConnectorError):
    """A setting is missing or malformed, or the key file is unusable. Exit 78."""

    exit_code = EXIT_CONFIG


class AccessDenied(ConnectorError):
    """DocuSign refused access: invalid grant, unknown user or key, Monitor not enabled. Exit 77.

    Heals outside: an admin can fix each cause in DocuSign (upload the public key, promote the
    integration key, grant a role) without touching this machine, so `--follow` keeps trying,
    slowly, instead of crash-looping under a shipper that restarts it."""

    exit_code = EXIT_ACCESS
    heals_outside = True
    follow_base_s = 60.0


class ConsentRequired(AccessDenied):
    """Consent not yet granted; heals once an admin opens the consent URL."""


class MonitorNotEnabled(AccessDenied):
    """403 from Monitor: not enabled or licensed, or the admin belongs to several organizations."""


class TokenRejected(ConnectorError):
    """A 401 from Monitor: the access token expired or was revoked. Handled by re-minting once."""

    exit_code = EXIT_ACCESS
    heals_outside = True
    follow_base_s = 60.0


class TemporaryError(ConnectorError):
    """DocuSign unreachable, 5xx, timeouts: retried, then exit 75."""

    exit_code = EXIT_TEMPORARY
    heals_outside = True
    retry_soon = True

    def __init__(
        self,
        cause: str,
        fix: str = "",
        *,
        trace_token: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(cause, fix, trace_token=trace_token)
        #: How long the server asked us to wait, when it said so.
        self.retry_after_s = retry_after_s
        #: When DocuSign asked to be called again (ISO, UTC), if that ended the run.
        self.retry_at: str | None = None


class RateLimited(TemporaryError):
    """429 from DocuSign."""


class TlsFailure(TemporaryError):
    """TLS verification failed: exit 75 at once in `run` (retrying within seconds cannot fix a
    CA bundle, a proxy or a clock), retried with the long backoff by `--follow`."""

    retry_soon = False

    @classmethod
    def describe(cls, detail: str, server: str, verify_fix: str) -> TlsFailure:
        """Tell a failed certificate check from a server that does not speak TLS at all (an
        https URL pointing at a plain HTTP port), which no CA bundle fixes. `detail` is the
        TLS library's message, never shown (it repeats the URL with its query)."""
        text = detail.lower()
        if any(
            marker in text
            for marker in ("wrong version number", "record layer failure", "unknown protocol",
                           "http request", "packet length too long", "unexpected eof")
        ):
            return cls(
                f"{server} did not answer with TLS (the TLS handshake failed before any "
                "certificate was checked)",
                "the URL says https:// but that port speaks something else, most often plain "
                "HTTP: check the URL's scheme and port (or the proxy in HTTPS_PROXY)",
            )
        return cls(f"TLS certificate verification failed for {server}", verify_fix)


class LockHeld(ConnectorError):
    """Another process holds the checkpoint's lock. Exit 75."""

    exit_code = EXIT_TEMPORARY


class BadAnswer(ConnectorError):
    """DocuSign answered with data that cannot be read (after retries: exit 65)."""

    exit_code = EXIT_DATA
    heals_outside = True
    retry_soon = True

    def __init__(self, cause: str, fix: str = "", *, trace_token: str | None = None) -> None:
        # Every exit names a fix; for an unreadable answer it is DocuSign's to make.
        super().__init__(
            cause,
            fix
            or "nothing was checkpointed past it and the next run asks again; if it persists, "
            "give DocuSign support the trace token",
            trace_token=trace_token,
        )


class CursorRejected(ConnectorError):
    """The stored cursor was refused with a 400; the engine resumes from the saved time instead."""

    exit_code = EXIT_DATA


class OutputError(ConnectorError):
    """stdout closed, or the forward receiver cannot take events. Exit 74."""

    exit_code = EXIT_IO


class CheckpointError(ConnectorError):
    """The checkpoint or the token cache cannot be written. Exit 74."""

    exit_code = EXIT_IO


class CheckpointUnreadable(ConfigError):
    """The checkpoint's content cannot be read (empty, not JSON, another format). Exit 78;
    `checkpoint reset` moves such a file aside."""


class InternalError(ConnectorError):
    """A bug of ours, recorded for `status` before the program exits 70."""

    exit_code = EXIT_INTERNAL


class BackingOff(ConnectorError):
    """A scheduled run skipped because the previous ones kept failing; exits with their code."""

    def __init__(self, cause: str, fix: str, *, exit_code: int) -> None:
        super().__init__(cause, fix)
        self.exit_code = exit_code
