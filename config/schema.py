"""The OpenAPI schema (/api/schema/) says what the API really answers: each operation's own serializers under
unique names, the API-key scheme, and the error responses every view can give. The adversarial tests
(tests/adversarial/) fuzz the API from this schema and hold it to it (status codes and content types)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny

# Every error's body (config.api_errors). A plain schema: a serializer field named "errors" would hide
# Serializer.errors.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "a readable message"},
        "errors": {"type": "object", "description": "per-field messages (validation errors only)"},
    },
    "required": ["detail"],
}


# One Server-Sent Event (rag.answer_apis.AskApi streams them in the order sources, token…, citations, done;
# errors on that channel are one `error` event): the event's name and its data, a JSON text.
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["sources", "token", "citations", "done", "error"]},
        "data": {"type": "string", "description": "JSON"},
    },
    "required": ["event", "data"],
}

_ERRORS = {
    400: "Malformed input: a query parameter or a body field is invalid (see `errors`).",
    401: "Not signed in, or the token or API key is invalid, expired or revoked.",
    403: "Signed in, but this role or API key may not do this.",
    404: "No such object, or the caller may not know it exists.",
    409: "Conflicts with the object's state.",
    413: "The upload is too large.",
    429: "Too many requests (an API key's rate, or a throttled endpoint).",
    503: "A component the operation needs is down (the language model).",
}


def errors(*codes: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """Error responses for ``extend_schema(responses=...)``, beyond the ones every operation documents (see
    AutoSchema): ``errors(404, 409)``."""
    return {code: OpenApiResponse(ERROR_SCHEMA, description=_ERRORS[code]) for code in codes}


def results(serializer: type[serializers.Serializer], **extra: serializers.Field) -> Any:
    """The schema of a list answer, ``{"results": [...]}`` (with ``extra`` fields beside it)."""
    name = serializer.__qualname__.replace(".", "").removesuffix("Serializer")
    return inline_serializer(name=f"{name}List", fields={"results": serializer(many=True), **extra})


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer: Any, direction: Any) -> str:
        # Views nest their own InputSerializer/Output classes: name them after the view
        # (``SearchApi.InputSerializer`` → ``SearchApiInput``), or every "Input" would share one component and
        # the schema would document one operation's body for all of them.
        qualname = type(serializer).__qualname__
        if "." in qualname and "<locals>" not in qualname:
            return qualname.replace(".", "")
        return str(super().get_serializer_name(serializer, direction))

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        codes = {429}  # every view has a throttle (API keys' rates)
        if not any(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            codes |= {401, 403}
        has_query = any(p.get("in") == "query" for p in self._get_parameters())
        if self.method in {"POST", "PUT", "PATCH"} or has_query:
            codes.add(400)
        if "{" in self.path:
            codes.add(404)
        for code in sorted(codes):
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    OpenApiResponse(ERROR_SCHEMA, description=_ERRORS[code]), str(code), direction=direction
                )
        if any(r.media_type == "text/event-stream" for r in self.view.get_renderers()):
            # A client that asked for a stream gets its errors on the stream too.
            for status, response in responses.items():
                if status >= "400" and "content" in response:
                    response["content"]["text/event-stream"] = {"schema": SSE_EVENT_SCHEMA}
        return responses


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """``Authorization: Api-Key <key>`` (governance.apikeys.ApiKeyAuthentication)."""

    target_class = "governance.apikeys.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'API key for internal systems, with the prefix "Api-Key"',
        }
