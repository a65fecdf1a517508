"""GET /console/v1/openapi.json (docs/openapi.md). Apart from console/api/schema.py, which
drf-spectacular's settings import (its views module imports them back)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework.response import Response


class OpenApiDocumentView(SpectacularJSONAPIView):
    """The document, public. It depends on the code only, so each process generates it
    once: a public URL must not cost every caller a whole generation."""

    _document: Any = None

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        if OpenApiDocumentView._document is None:
            OpenApiDocumentView._document = super().get(request, *args, **kwargs).data
        return Response(OpenApiDocumentView._document)
