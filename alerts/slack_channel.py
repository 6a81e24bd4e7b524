"""Post a rendered digest to a Slack incoming webhook with the official slack_sdk client."""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from alerts.config import SlackChannel
from alerts.errors import DeliveryError, redact

# slack_sdk logs the full webhook URL (the secret) at debug and info level, and on retries;
# give it a logger of its own that emits nothing. We report failures ourselves, without the URL.
_SDK_LOGGER = logging.getLogger("alerts.slack_channel.sdk")
_SDK_LOGGER.setLevel(logging.CRITICAL + 1)
_SDK_LOGGER.propagate = False
_SDK_LOGGER.addHandler(logging.NullHandler())


def _secrets(url: str) -> list[str]:
    path = urlsplit(url).path
    return [url, path] if len(path) > 1 else [url]


def send_slack(channel: SlackChannel, text: str, blocks: list[dict]) -> None:
    """Post one message. Success is HTTP 200 with body "ok"; anything else raises DeliveryError
    (transient for 429, 5xx and network errors), whose message never holds the webhook URL."""
    # Imported here: a run that posts nothing to Slack does not load slack_sdk (~25 ms, ~40 modules).
    from slack_sdk.webhook import WebhookClient

    where = f"Slack webhook of channel {channel.name!r}"
    # No retries inside the client: a retried post whose first attempt did arrive would show twice;
    # the outbox retries transient failures on a later run. Its timeout is urllib's, per socket
    # operation (a float is fine: int() made 0.5 s a non-blocking 0), a second past the channel's
    # so that the whole post's bound below is the one that speaks.
    client = WebhookClient(
        channel.webhook_url, timeout=channel.timeout + 1, logger=_SDK_LOGGER, retry_handlers=[]
    )
    try:
        response = _within(channel.timeout, lambda: client.send(text=text, blocks=blocks))
    except Exception as error:  # urllib and slack_sdk errors: network down, bad URL, timeout
        reason = redact(f"{type(error).__name__}: {error}", _secrets(channel.webhook_url))
        raise DeliveryError(f"{where}: {reason}", transient=isinstance(error, OSError)) from None
    if response.status_code == 200 and response.body == "ok":
        return
    body = redact(" ".join(str(response.body).split())[:200], _secrets(channel.webhook_url))
    transient = response.status_code == 429 or response.status_code >= 500
    raise DeliveryError(f"{where}: HTTP {response.status_code}: {body!r}", transient=transient)


def _within(seconds: float, post):
    """post() if it finishes within `seconds`; else TimeoutError. urllib bounds each socket read,
    so an endpoint answering a byte at a time would hold the run as long as it dripped; the post
    runs in a daemon thread, which its own socket timeouts end soon after (nothing waits for it)."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, post()))
        except BaseException as error:  # handed to the caller
            outcome.append((False, error))

    thread = threading.Thread(target=run, name="slack-post", daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        raise TimeoutError(f"no complete answer within {seconds:g}s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value
