"""One adapter per provider kind, each through the provider's official Python SDK.

`complete(kind=..., ...)` sends one request (no SDK retries: the ticket goes to people
instead, a person is a better retry than a worker blocked for a minute), bounded by the
provider's timeout and output-token limit, and returns the answer's text with the token
counts. Every SDK error becomes `ProviderError` with a stable `code` and a short English
`message` (never the key, never the prompt).

The SDKs log request options, bodies included, at DEBUG: their loggers are kept at INFO
so that no prompt content reaches the logs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anthropic
import openai

for _name in ("openai", "anthropic"):
    if logging.getLogger(_name).getEffectiveLevel() < logging.INFO:
        logging.getLogger(_name).setLevel(logging.INFO)


@dataclass(frozen=True)
class Reply:
    text: str
    input_tokens: int
    output_tokens: int


class ProviderError(Exception):
    """The provider was asked and gave no answer. `code`: timeout, rate_limited, auth,
    connection, status, config. `sent`: the request reached the provider (it is metered)."""

    def __init__(self, code: str, message: str, *, retry_after: str = "", sent: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.sent = sent


def _http_options() -> dict:
    # No proxy from the environment, no redirect followed (the guard checked this URL only).
    return {"trust_env": False, "follow_redirects": False}


def _map(exc: Exception, *, timeout: int) -> ProviderError:
    """The SDK's error as a ProviderError (the same classes exist in both SDKs)."""
    for sdk in (openai, anthropic):
        if isinstance(exc, sdk.APITimeoutError):
            return ProviderError("timeout", f"the model did not answer within {timeout} s")
        if isinstance(exc, sdk.APIConnectionError):
            return ProviderError("connection", "the model's endpoint could not be reached", sent=False)
        if isinstance(exc, sdk.RateLimitError):
            retry = (exc.response.headers.get("retry-after") or "").strip()[:10]
            suffix = f", retry after {retry} s" if retry else ""
            return ProviderError("rate_limited", f"the provider is rate limiting requests (HTTP 429{suffix})",
                                 retry_after=retry)
        if isinstance(exc, sdk.AuthenticationError | sdk.PermissionDeniedError):
            return ProviderError("auth", f"the provider refused the API key (HTTP {exc.status_code})")
        if isinstance(exc, sdk.APIStatusError):
            return ProviderError("status", f"the provider answered HTTP {exc.status_code}")
        if isinstance(exc, sdk.APIResponseValidationError | sdk.APIError):
            return ProviderError("status", "the provider's answer could not be read")
    return ProviderError("status", f"the provider call failed ({type(exc).__name__})")


_SDK_ERRORS = (openai.OpenAIError, anthropic.AnthropicError)


def complete(*, kind: str, base_url: str, api_key: str, model: str, api_version: str, system: str, user: str,
             timeout: int, max_tokens: int) -> Reply:
    try:
        if kind == "anthropic":
            return _anthropic(base_url=base_url, api_key=api_key, model=model, system=system, user=user,
                              timeout=timeout, max_tokens=max_tokens)
        if kind in ("openai", "azure_openai"):
            return _openai(kind=kind, base_url=base_url, api_key=api_key, model=model, api_version=api_version,
                           system=system, user=user, timeout=timeout, max_tokens=max_tokens)
    except _SDK_ERRORS as exc:
        raise _map(exc, timeout=timeout) from None
    raise ProviderError("config", f"unknown provider kind {kind!r}", sent=False)


def _openai(*, kind, base_url, api_key, model, api_version, system, user, timeout, max_tokens) -> Reply:
    http_client = openai.DefaultHttpxClient(timeout=float(timeout), **_http_options())
    if kind == "azure_openai":
        client = openai.AzureOpenAI(azure_endpoint=base_url, api_version=api_version, api_key=api_key,
                                    timeout=float(timeout), max_retries=0, http_client=http_client)
    else:
        client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=float(timeout), max_retries=0,
                               http_client=http_client)
    with client:
        response = client.chat.completions.create(
            model=model, messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            max_completion_tokens=max_tokens, temperature=0, response_format={"type": "json_object"},
        )
    usage = response.usage
    text = response.choices[0].message.content if response.choices else ""
    return _reply(text, getattr(usage, "prompt_tokens", 0), getattr(usage, "completion_tokens", 0))


def _anthropic(*, base_url, api_key, model, system, user, timeout, max_tokens) -> Reply:
    http_client = anthropic.DefaultHttpxClient(timeout=float(timeout), **_http_options())
    client = anthropic.Anthropic(base_url=base_url, api_key=api_key, timeout=float(timeout), max_retries=0,
                                 http_client=http_client)
    with client:
        response = client.messages.create(model=model, system=system, max_tokens=max_tokens,
                                          messages=[{"role": "user", "content": user}])
    text = "".join(getattr(block, "text", "") for block in response.content if getattr(block, "type", "") == "text")
    usage = response.usage
    return _reply(text, getattr(usage, "input_tokens", 0), getattr(usage, "output_tokens", 0))


def _reply(text, input_tokens, output_tokens) -> Reply:
    return Reply(text=text or "", input_tokens=max(int(input_tokens or 0), 0),
                 output_tokens=max(int(output_tokens or 0), 0))
