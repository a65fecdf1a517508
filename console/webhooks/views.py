"""Settings → Webhooks (admins only: webhook URLs are credentials): the project's webhooks
with their last delivery, create (the secret shown once), edit, rotate, delete, send a
test event, and the recent deliveries with "Retry". With htmx, the deliveries card
refreshes itself while any delivery is pending."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console.models import Role, Webhook, WebhookDelivery, WebhookDeliveryState
from console.web import call_on_form, call_with_message, form_status, is_partial, project_for
from console.webhooks import selectors, services
from console.webhooks.events import event_choices
from console.webhooks.forms import WebhookForm, WebhookRotateForm


def _deliveries_context(project) -> dict:
    deliveries = list(
        selectors.webhook_delivery_list(project=project)[: selectors.RECENT_DELIVERIES]
    )
    return {
        "deliveries": deliveries,
        "any_pending": any(d.state == WebhookDeliveryState.PENDING for d in deliveries),
    }


def _page(request, project, *, create_form=None, issued=None, failed=None):
    """The webhooks page. `issued` (services.IssuedWebhook) is rendered in this response
    only; `failed` is (webhook id, bound rotate form) of a refused rotation."""
    context = {
        "project": project,
        "section": "settings",
        "tab": "webhooks",
        "webhooks": list(selectors.webhook_list(project=project)),
        "create_form": create_form or WebhookForm(),
        "has_events": bool(event_choices()),
        "rotate_form": WebhookRotateForm(),
        "failed_webhook_id": failed[0] if failed else None,
        "failed_form": failed[1] if failed else None,
        "issued": issued,
        **_deliveries_context(project),
    }
    response = render(
        request,
        "console/webhook_list.html",
        context,
        status=form_status([create_form, failed[1] if failed else None]),
    )
    # A new secret is in this response only: no browser or proxy may keep a copy.
    response["Cache-Control"] = "no-store"
    return response


@login_required
def webhook_list_page(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    if is_partial(request) and request.GET.get("part") == "deliveries":
        context = {"project": project, **_deliveries_context(project)}
        return render(request, "console/partials/_webhook_deliveries.html", context)
    return _page(request, project)


@login_required
@require_POST
def webhook_create(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    form = WebhookForm(request.POST)
    if form.is_valid():
        ok, issued = call_on_form(
            form,
            services.webhook_create,
            actor=request.user,
            project=project,
            **form.service_kwargs(),
        )
        if ok:
            return _page(request, project, issued=issued)
    return _page(request, project, create_form=form)


def _webhook(project, webhook_id) -> Webhook:
    webhook = get_object_or_404(Webhook, pk=webhook_id, project=project)
    webhook.project = project  # the services read it; spare them a query
    return webhook


@login_required
@require_http_methods(["GET", "POST"])
def webhook_update(request, slug, webhook_id):
    project = project_for(request, slug, Role.ADMIN)
    webhook = _webhook(project, webhook_id)
    if request.method == "POST":
        form = WebhookForm(request.POST)
        if form.is_valid():
            ok, saved = call_on_form(
                form,
                services.webhook_update,
                actor=request.user,
                webhook=webhook,
                **form.service_kwargs(),
            )
            if ok:
                messages.success(request, f"Webhook {saved.name} saved.")
                return redirect("project-webhooks", project.slug)
    else:
        form = WebhookForm(
            initial={
                "name": webhook.name,
                "url": webhook.url,
                "all_events": webhook.all_events,
                "events": webhook.events,
                "is_active": webhook.is_active,
            }
        )
    context = {
        "project": project,
        "section": "settings",
        "tab": "webhooks",
        "webhook": webhook,
        "form": form,
        "has_events": bool(event_choices()),
    }
    return render(request, "console/webhook_form.html", context, status=form_status(form))


@login_required
@require_POST
def webhook_rotate(request, slug, webhook_id):
    project = project_for(request, slug, Role.ADMIN)
    webhook = _webhook(project, webhook_id)
    form = WebhookRotateForm(request.POST)
    if form.is_valid():
        ok, issued = call_on_form(
            form,
            services.webhook_rotate_secret,
            actor=request.user,
            webhook=webhook,
            **form.cleaned_data,
        )
        if ok:
            return _page(request, project, issued=issued)
    return _page(request, project, failed=(webhook.pk, form))


@login_required
@require_POST
def webhook_delete(request, slug, webhook_id):
    project = project_for(request, slug, Role.ADMIN)
    webhook = _webhook(project, webhook_id)
    name = webhook.name
    if call_with_message(request, services.webhook_delete, actor=request.user, webhook=webhook):
        messages.success(request, f"Webhook {name} deleted.")
    return redirect("project-webhooks", project.slug)


@login_required
@require_POST
def webhook_test(request, slug, webhook_id):
    project = project_for(request, slug, Role.ADMIN)
    webhook = _webhook(project, webhook_id)
    if call_with_message(request, services.webhook_send_test, actor=request.user, webhook=webhook):
        messages.success(request, f"Test event queued for {webhook.name}; see its delivery below.")
    return redirect("project-webhooks", project.slug)


@login_required
@require_POST
def webhook_delivery_retry(request, slug, delivery_id):
    project = project_for(request, slug, Role.ADMIN)
    delivery = get_object_or_404(
        WebhookDelivery.objects.select_related("webhook"),
        pk=delivery_id,
        webhook__project=project,
    )
    delivery.webhook.project = project
    if call_with_message(
        request, services.webhook_delivery_retry, actor=request.user, delivery=delivery
    ):
        messages.success(request, f"{delivery.event} to {delivery.webhook.name} queued again.")
    return redirect("project-webhooks", project.slug)
