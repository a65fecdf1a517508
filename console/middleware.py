"""Request id (taken from X-Request-ID or made up, put on logs, audit events and the response)
and the browser security headers."""

import re
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.http import JsonResponse

from console.context import request_context
from console.http_input import JsonRefused, check_text
from console.redaction import redact_keys
from console.sso import conf as sso_conf

VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        with request_context(request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


# The console loads only its own scripts, styles and images (htmx from node_modules, never a
# CDN), has no inline scripts, styles or event handlers, and is never framed.
_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


def content_security_policy() -> str:
    """The policy; with SSO on, forms may also lead to the provider (signing out POSTs, then
    redirects to its end_session_endpoint, and browsers hold redirects to form-action)."""
    directives = dict(_CSP)
    if sso_conf.sso_enabled():
        parts = urlsplit(sso_conf.issuer())
        directives["form-action"] += f" {parts.scheme}://{parts.netloc}"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


# Nothing in the console needs these browser features.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
        "xr-spatial-tracking",
    )
)


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every response (Django 5.2 has no
    CSP of its own). A view may set its own and is left alone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


# Django's technical 404 and 500 pages carry this tag (our own pages never do).
_TECHNICAL_PAGE = '<meta name="robots" content="NONE,NOARCHIVE">'
DEBUG_PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class DebugPageRedactionMiddleware:
    """With DEBUG on, Django's technical 404 and 500 pages print the request path, headers
    and variables, and SDK keys travel in paths (`/v1/download_config_specs/secret-….json`):
    such pages show every key cut to its hint (console.redaction), styled as Django draws
    them: their own inline styles and scripts are allowed on them alone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code >= 400
            and not response.streaming
            and response.get("Content-Type", "").startswith("text/html")
        ):
            charset = response.charset or "utf-8"
            text = response.content.decode(charset, errors="replace")
            response.content = redact_keys(text).encode(charset)
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
            if _TECHNICAL_PAGE in text:
                # Django's own pages style and script themselves inline; only with DEBUG.
                response["Content-Security-Policy"] = DEBUG_PAGE_CSP
        return response


class HostileUrlMiddleware:
    """A NUL or a lone surrogate in the path or the query string is refused here with a 400
    `{"message", "code"}`: PostgreSQL cannot store or compare a NUL, and no view should
    have to remember that for every URL parameter."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            check_text(request.path)
            for values in request.GET.lists():
                check_text(values[0])
                for value in values[1]:
                    check_text(value)
        except JsonRefused as exc:
            return JsonResponse({"message": f"URL: {exc.message}", "code": exc.code}, status=400)
        return self.get_response(request)


class JoinPromptMiddleware:
    """A signed-in employee who opens a link into a project they are not in sees a prompt to
    join it (an open project) or to request access (a closed one), not a 404. Anyone else,
    and the API, still get the 404."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from console.permissions import NotAMember
        from console.views.projects import join_prompt

        if not isinstance(exception, NotAMember):
            return None
        if not getattr(request.user, "is_authenticated", False):
            return None
        return join_prompt(request, exception.project)
