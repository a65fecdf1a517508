"""The audit log: filters and pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from console import selectors
from console.forms import (
    AuditFilterForm,
)
from console.web import (
    is_partial,
    project_for,
)

AUDIT_PAGE_SIZE = 50


# ---------------------------------------------------------------- audit log


@login_required
def project_audit(request, slug):
    project = project_for(request, slug)
    form = AuditFilterForm(request.GET, facets=selectors.audit_facets(project=project))
    filters = selectors.AuditFilters()
    if form.is_valid():
        filters = selectors.AuditFilters(
            **{name: value for name, value in form.cleaned_data.items() if value}
        )
    events = selectors.audit_event_list(project=project, filters=filters)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "section": "audit",
        "form": form,
        "page": page,
        "filtered": filters != selectors.AuditFilters(),
    }
    template = (
        "console/partials/_audit_table.html" if is_partial(request) else "console/audit_list.html"
    )
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response
