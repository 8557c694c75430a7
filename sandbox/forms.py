"""Reading OAuth token requests without a form library: urlencoded body plus HTTP Basic."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs

from fastapi import Request


async def token_request(request: Request) -> dict[str, str] | None:
    """The token request's parameters (client credentials from Basic auth included).

    None when the body is not `application/x-www-form-urlencoded`, which OAuth 2.0 requires.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    try:
        raw = (await request.body()).decode()
    except UnicodeDecodeError:
        return None
    params = {key: values[0] for key, values in parse_qs(raw).items() if values}
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return params
        client_id, _, secret = decoded.partition(":")
        params.setdefault("client_id", client_id)
        params.setdefault("client_secret", secret)
    return params


def bearer_token(request: Request) -> str:
    """The token of `Authorization: Bearer <token>` (Salesforce also accepts `OAuth <token>`)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") else ""
