"""What every console API view stands on: the base view (authentication, the error format
and pagination come from REST_FRAMEWORK settings), the answer shape and input validation."""

from __future__ import annotations

from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response


class ConsoleAPIView(GenericAPIView):
    def paginated(self, queryset, serializer_class, **context) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True, context=context).data)


def ok(message: str, data, code: int = status.HTTP_200_OK) -> Response:
    """{"message", "data"}: every successful answer."""
    return Response({"message": message, "data": data}, status=code)


def valid(serializer_class, data) -> dict:
    """The validated input, or a 400 in the API's error shape."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
