"""Global search: the top bar's box answers as you type (htmx, a list of links under it),
and Enter opens the same results as a page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required

from console import search
from console.web import list_response, project_for

QUERY_MAX = 100


@login_required
def project_search(request, slug):
    project = project_for(request, slug)
    term = request.GET.get("q", "")[:QUERY_MAX].strip()
    return list_response(
        request,
        template="console/search.html",
        partial="console/partials/_search_results.html",
        context={
            "project": project,
            "term": term,
            "groups": search.search(project=project, term=term),
            "too_short": 0 < len(term) < search.MIN_TERM,
        },
    )
