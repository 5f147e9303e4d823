"""OpenAPI helpers of the tickets API: documented problem responses and a schema class
that still recognises list operations when those are declared."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from .serializers import ProblemSerializer

PROBLEM = "application/problem+json"
_TEXT = {
    400: "Invalid input (problem details with `errors`).",
    401: "Not signed in.",
    403: "Not allowed (role or policy).",
    404: "Not found, or not visible to you.",
    409: "Conflicts with the current state.",
    411: "Content-Length is required (chunked uploads are not accepted).",
    413: "The file is too large.",
    415: "The file type is not allowed.",
    422: "This Idempotency-Key was used for a different request.",
    429: "Too many requests; see Retry-After.",
    503: "A keyed write cannot be handled right now (idempotency store unavailable).",
    500: "Server error.",
}


def problems(*codes: int, write: bool = False) -> dict:
    """OpenAPI responses for problem-details errors: 400, 401, 403, 404, 429 and `codes`;
    for writes also what Idempotency-Key adds (409 in flight, 422 reused, 503)."""
    extra = (409, 422, 503) if write else ()
    return {
        (code, PROBLEM): OpenApiResponse(ProblemSerializer, description=_TEXT.get(code, "Error."))
        for code in sorted({400, 401, 403, 404, 429, *codes, *extra})
    }


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    OpenApiParameter.HEADER,
    required=False,
    description="Replays the first response for the same key and body (24 h); a different body gets 422.",
)


class TicketsAutoSchema(AutoSchema):
    """drf-spectacular picks the "main" response by the smallest key; `(400, media type)`
    keys sort before "200", which hid pagination and filters. Ignore them here."""

    def _is_list_view(self, serializer=None) -> bool:
        if serializer is None:
            serializer = self.get_response_serializers()
        if isinstance(serializer, dict) and serializer:
            plain = {str(code): value for code, value in serializer.items() if not isinstance(code, tuple)}
            if plain:
                serializer = plain[min(plain)]
        return super()._is_list_view(serializer)
