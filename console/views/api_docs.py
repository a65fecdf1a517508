"""Settings → API: the console API's reference, the OpenAPI document rendered by Swagger UI
(served from node_modules, initialised by console/static/console/api-docs.js)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from console.web import project_for


@login_required
def project_api_docs(request, slug):
    project = project_for(request, slug)
    return render(
        request,
        "console/api_docs.html",
        {"project": project, "section": "settings", "tab": "api"},
    )
