"""Errors of the extraction stages. Transient ones may pass by themselves and are retried."""


class ExtractorError(Exception):
    """Base of every error raised by extractors/."""

    transient = False


class TransientError(ExtractorError):
    """May succeed if tried again: timeouts, connection errors, 429 and 5xx responses."""

    transient = True


class PermanentError(ExtractorError):
    """Will fail again: 4xx, malformed content, refused addresses, oversized bodies."""


class FetchError(PermanentError):
    """A permanent HTTP failure."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class TransientFetchError(TransientError):
    """A transient HTTP failure (after retries, if it still failed)."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RefusedAddress(PermanentError):
    """A link (or redirect) leads to a loopback/private address and such hosts are not allowed."""


class BodyTooLarge(PermanentError):
    """The decoded body exceeds the configured cap (a decompression bomb included)."""


class EndlessBody(PermanentError):
    """A body without a declared length was still arriving when the request's time ran out."""


class BadCertificate(FetchError):
    """The server's TLS certificate did not verify (expired, self-signed, for another name)."""


class FeedParseError(PermanentError):
    """The feed has no usable entry (none with an http(s) link) and could not be parsed."""
