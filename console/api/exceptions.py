"""One error format for the console API: {"message": ..., "code": ...} (and "field" if any)."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from console.exceptions import ApplicationError


def _first_error(detail, path=""):
    """The first (field, message, code) in a DRF error tree."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = key if key != "non_field_errors" else ""
            return _first_error(value, f"{path}.{field}".strip(".") if field else path)
    if isinstance(detail, list) and detail:
        return _first_error(detail[0], path)
    return path, str(detail), getattr(detail, "code", "invalid")


def _camel(name: str) -> str:
    """Services name fields as the models do (overlap_hours); the API says overlapHours."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        body = {"message": exc.message, "code": exc.code}
        if exc.field:
            body["field"] = _camel(exc.field)
        return Response(body, status=exc.status)
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        return Response({"message": str(exc), "code": "body_too_large"}, status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        field, message, code = _first_error(exc.detail)
        body = {"message": f"{field}: {message}" if field else message, "code": code}
        if field:
            body["field"] = field
        body["errors"] = exc.detail
        response.data = body
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    detail = getattr(exc, "detail", "")
    response.data = {
        "message": str(detail) if detail else "Error.",
        "code": getattr(detail, "code", None) or getattr(exc, "default_code", "error"),
    }
    return response


@csrf_exempt  # it changes nothing; without this a POST got Django's HTML 403 (no CSRF cookie)
def not_found(request, *args, **kwargs) -> JsonResponse:
    """Any /console/v1/ path no endpoint matched: the API's error shape, not an HTML page."""
    return JsonResponse(
        {"message": "No such console API endpoint.", "code": "not_found"}, status=404
    )
