"""Console API for webhooks (admins only), beside console.api at /console/v1/."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status

from console.api import schema
from console.api.base import ConsoleAPIView, ok, valid
from console.api.permissions import get_in_project, resolve_project
from console.exceptions import NotFound
from console.models import Role, Webhook, WebhookDelivery
from console.webhooks import selectors, services

# ---------------------------------------------------------------- shapes


class WebhookCreateInput(serializers.Serializer):
    name = serializers.CharField()
    url = serializers.CharField()
    # null or absent: every event.
    events = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True, allow_empty=True
    )
    isActive = serializers.BooleanField(source="is_active", required=False, default=True)


class WebhookUpdateInput(serializers.Serializer):
    name = serializers.CharField(required=False)
    url = serializers.CharField(required=False)
    events = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True, allow_empty=True
    )
    isActive = serializers.BooleanField(source="is_active", required=False)


class WebhookRotateInput(serializers.Serializer):
    overlapHours = serializers.IntegerField(source="overlap_hours", required=False)


class WebhookOutput(serializers.Serializer):
    """Webhook settings and last delivery. Never the secret: it is added once, by the view."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    url = serializers.CharField()
    allEvents = serializers.BooleanField(source="all_events")
    events = serializers.ListField(child=serializers.CharField())
    isActive = serializers.BooleanField(source="is_active")
    secretHint = serializers.CharField(source="secret_hint")
    secretRotatedAt = serializers.DateTimeField(source="secret_rotated_at", allow_null=True)
    lastDeliveryState = serializers.CharField(source="last_delivery_state")
    lastDeliveryAt = serializers.DateTimeField(source="last_delivery_at", allow_null=True)
    lastResponseStatus = serializers.IntegerField(source="last_response_status", allow_null=True)
    lastError = serializers.CharField(source="last_error")
    createdBy = serializers.SerializerMethodField(method_name="get_created_by")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_created_by(self, obj) -> str | None:
        return obj.created_by.email if obj.created_by_id else None


class WebhookDeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    webhook = serializers.IntegerField(source="webhook_id")
    webhookName = serializers.CharField(source="webhook.name")
    event = serializers.CharField()
    state = serializers.CharField()
    attempts = serializers.IntegerField()
    responseStatus = serializers.IntegerField(source="response_status", allow_null=True)
    lastError = serializers.CharField(source="last_error")
    createdAt = serializers.DateTimeField(source="created_at")
    lastAttemptAt = serializers.DateTimeField(source="last_attempt_at", allow_null=True)
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", allow_null=True)
    deliveredAt = serializers.DateTimeField(source="delivered_at", allow_null=True)


class IssuedWebhookOutput(WebhookOutput):
    """The schema of a webhook with its signing secret, shown once (_issued)."""

    secret = serializers.CharField()


def _issued(issued: services.IssuedWebhook) -> dict:
    """The one response that ever carries a webhook's signing secret."""
    return {**WebhookOutput(issued.webhook).data, "secret": issued.secret}


# ---------------------------------------------------------------- endpoints


class WebhookListView(ConsoleAPIView):
    @extend_schema(summary="List webhooks", responses={200: WebhookOutput(many=True)})
    def get(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        return self.paginated(selectors.webhook_list(project=project), WebhookOutput)

    @extend_schema(
        summary="Create a webhook",
        description="The answer carries the signing secret, the only time it is shown.",
        request=WebhookCreateInput,
        responses={201: schema.answer("IssuedWebhookAnswer", IssuedWebhookOutput())},
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        data = valid(WebhookCreateInput, request.data)
        issued = services.webhook_create(actor=request.user, project=project, **data)
        return ok(
            "Webhook created. Copy the signing secret now: it is not shown again.",
            _issued(issued),
            status.HTTP_201_CREATED,
        )


class WebhookDetailView(ConsoleAPIView):
    @extend_schema(
        summary="Update a webhook",
        request=WebhookUpdateInput,
        responses={200: schema.answer("WebhookAnswer", WebhookOutput())},
    )
    def patch(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        webhook = get_in_project(Webhook.objects, project, pk, what="webhook")
        data = valid(WebhookUpdateInput, request.data)
        if "events" in data:
            events = data["events"]
        else:
            events = None if webhook.all_events else list(webhook.events)
        webhook = services.webhook_update(
            actor=request.user,
            webhook=webhook,
            name=data.get("name", webhook.name),
            url=data.get("url", webhook.url),
            events=events,
            is_active=data.get("is_active", webhook.is_active),
        )
        return ok("Webhook updated.", WebhookOutput(webhook).data)

    @extend_schema(summary="Delete a webhook", responses={200: schema.DONE})
    def delete(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        webhook = get_in_project(Webhook.objects, project, pk, what="webhook")
        services.webhook_delete(actor=request.user, webhook=webhook)
        return ok("Webhook deleted.", None)


class WebhookRotateView(ConsoleAPIView):
    @extend_schema(
        summary="Rotate a webhook's signing secret",
        request=WebhookRotateInput,
        responses={201: schema.answer("IssuedWebhookAnswer", IssuedWebhookOutput())},
    )
    def post(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        webhook = get_in_project(Webhook.objects, project, pk, what="webhook")
        data = valid(WebhookRotateInput, request.data)
        issued = services.webhook_rotate_secret(actor=request.user, webhook=webhook, **data)
        return ok(
            "Secret rotated. Copy the new secret now: it is not shown again.",
            _issued(issued),
            status.HTTP_201_CREATED,
        )


class WebhookTestView(ConsoleAPIView):
    @extend_schema(
        summary="Send a test event",
        request=None,
        responses={202: schema.answer("WebhookDeliveryAnswer", WebhookDeliveryOutput())},
    )
    def post(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        webhook = get_in_project(Webhook.objects, project, pk, what="webhook")
        delivery = services.webhook_send_test(actor=request.user, webhook=webhook)
        return ok(
            "Test event queued.", WebhookDeliveryOutput(delivery).data, status.HTTP_202_ACCEPTED
        )


class WebhookDeliveryListView(ConsoleAPIView):
    @extend_schema(
        operation_id="webhooks_deliveries_list",
        summary="List a webhook's deliveries",
        responses={200: WebhookDeliveryOutput(many=True)},
    )
    def get(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        webhook = get_in_project(Webhook.objects, project, pk, what="webhook")
        deliveries = selectors.webhook_delivery_list(project=project, webhook=webhook)
        return self.paginated(deliveries, WebhookDeliveryOutput)


class WebhookDeliveryRetryView(ConsoleAPIView):
    @extend_schema(
        summary="Retry a delivery",
        request=None,
        responses={
            202: schema.answer("WebhookDeliveryAnswer", WebhookDeliveryOutput()),
            **schema.errors(409),
        },
    )
    def post(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        delivery = (
            WebhookDelivery.objects.select_related("webhook")
            .filter(pk=pk, webhook__project=project)
            .first()
        )
        if delivery is None:
            raise NotFound("No such webhook delivery in this project.")
        delivery.webhook.project = project
        delivery = services.webhook_delivery_retry(actor=request.user, delivery=delivery)
        return ok(
            "Delivery queued again.", WebhookDeliveryOutput(delivery).data, status.HTTP_202_ACCEPTED
        )
