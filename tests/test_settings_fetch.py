"""The configuration of fetching added for real sites: [fetch] proxy and a feed's own user_agent,
headers and cookies; a bad value is one clear line naming the key."""

from __future__ import annotations

import pytest

from extractors.http import RequestOverrides
from flows.settings import ConfigError, load_settings

FEED = '[[feeds]]\nname = "wire"\nurl = "https://wire.example/rss"\n'


def load(tmp_path, text: str):
    path = tmp_path / "newswatch.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, check_secrets=False)


def test_a_feed_with_its_own_request_settings(tmp_path):
    settings = load(
        tmp_path,
        '[fetch]\nproxy = "http://analyst:pw@proxy.corp:3128"\n' + FEED
        + 'user_agent = "Mozilla/5.0 (compatible; newswatch)"\n'
        'headers = { "X-Api-Key" = "k", Accept = "application/rss+xml" }\n'
        'cookies = { euconsent = "CP1a-2b", session = "s" }\n',
    )  # fmt: skip
    assert settings.fetch.proxy == "http://analyst:pw@proxy.corp:3128"
    assert settings.feeds[0].request_overrides() == RequestOverrides(
        user_agent="Mozilla/5.0 (compatible; newswatch)",
        headers=(("X-Api-Key", "k"), ("Accept", "application/rss+xml")),
        cookies=(("euconsent", "CP1a-2b"), ("session", "s")),
    )


def test_a_feed_without_them_has_no_overrides(tmp_path):
    settings = load(tmp_path, FEED)
    assert settings.feeds[0].request_overrides() is None and settings.fetch.proxy is None


@pytest.mark.parametrize(
    ("toml", "key", "message"),
    [
        ('[fetch]\nproxy = "socks5://u:secret@proxy:1080"\n', "fetch.proxy", "only http:// proxies"),
        ('[fetch]\nproxy = "http://proxy:port"\n', "fetch.proxy", "invalid port"),
        (FEED + 'headers = { Host = "evil.example" }\n', "feeds.0.headers", "cannot be set per feed"),
        (FEED + 'headers = { Cookie = "a=b" }\n', "feeds.0.headers", "use cookies"),
        (FEED + 'headers = { "Bad Name" = "x" }\n', "feeds.0.headers", "not a valid HTTP header name"),
        (FEED + 'headers = { X-A = "one\\r\\nX-Injected: two" }\n', "feeds.0.headers", "control characters"),
        (FEED + 'cookies = { consent = "a; admin=1" }\n', "feeds.0.cookies", "semicolons"),
        (FEED + 'user_agent = "agent\\u001b[31m"\n', "feeds.0.user_agent", "control characters"),
    ],
)
def test_bad_request_settings_name_the_key(tmp_path, toml, key, message):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, toml)
    text = str(caught.value)
    assert f"{key}: " in text and message in text
    assert "secret" not in text  # a proxy's password is never quoted back
