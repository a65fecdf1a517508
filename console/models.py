"""Core models: users, projects and their environments, tags, members, keys, the audit log,
publishing, and outbound webhooks."""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class User(AbstractUser):
    """A person who signs in to the console (local account now, SSO later)."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="console_user_email_unique"
            ),
        ]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email or self.username


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# A role grants everything the roles below it grant.
ROLE_RANK = {Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3}


def role_at_least(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(needed)]


class ProjectAccessMode(models.TextChoices):
    OPEN = "open", "Open: any signed-in employee may join"
    CLOSED = "closed", "Closed: people request access, admins approve"


class ProjectQuerySet(models.QuerySet):
    def active(self) -> ProjectQuerySet:
        return self.filter(archived_at__isnull=True)

    def for_user(self, user) -> ProjectQuerySet:
        return self.filter(memberships__user=user)


class Project(TimeStampedModel):
    """A product area with its own environments, members, keys and configuration."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50)
    description = models.TextField(blank=True, max_length=2000)
    access_mode = models.CharField(
        max_length=10, choices=ProjectAccessMode.choices, default=ProjectAccessMode.CLOSED
    )
    default_role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    archived_at = models.DateTimeField(null=True, blank=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["slug"], name="console_project_slug_unique"),
            models.CheckConstraint(
                condition=~Q(default_role="admin"), name="console_project_default_role_not_admin"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class EnvironmentTier(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class Environment(TimeStampedModel):
    """A deployment target of a project (development, staging, production, ...)."""

    # PROTECT: an environment holds keys and published specs; it is removed by its service only.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="environments")
    name = models.CharField(max_length=50)
    tier = models.CharField(max_length=20, choices=EnvironmentTier.choices)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["project_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                "project", Lower("name"), name="console_environment_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Tag(TimeStampedModel):
    """A label that gates, experiments and metrics of one project can carry."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=50)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("project", Lower("name"), name="console_tag_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class MembershipSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    SSO = "sso", "SSO group"


class Membership(TimeStampedModel):
    """One user's role in one project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    # "sso": granted by an identity-provider group at sign-in, and removed by the same sync;
    # "manual" (invite, join, approval) memberships are never touched by SSO.
    source = models.CharField(
        max_length=10, choices=MembershipSource.choices, default=MembershipSource.MANUAL
    )
    sso_group = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["user__email"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="console_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user.email} in {self.project} ({self.role})"


class SsoIdentity(TimeStampedModel):
    """One account at the OIDC identity provider (issuer + subject), linked to a console user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    # The email the provider asserted at the last sign-in (the user's email may be edited).
    email = models.EmailField(max_length=254)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="console_ssoidentity_subject_unique"
            ),
            models.UniqueConstraint(
                fields=["user", "issuer"], name="console_ssoidentity_one_per_issuer"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.subject} at {self.issuer})"


class AccessRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"


class AccessRequest(TimeStampedModel):
    """A request by a non-member to join a closed project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="access_requests")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_requests"
    )
    message = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=10, choices=AccessRequestStatus.choices, default=AccessRequestStatus.PENDING
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # SET_NULL: the decision stays on record when the deciding admin's account is deleted.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user"],
                condition=Q(status="pending"),
                name="console_accessrequest_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.project} ({self.status})"


class KeyKind(models.TextChoices):
    SERVER = "server", "Server secret key"
    CLIENT = "client", "Client key"
    CONSOLE = "console", "Console API key"


KEY_PREFIXES = {KeyKind.SERVER: "secret-", KeyKind.CLIENT: "client-", KeyKind.CONSOLE: "console-"}


def hash_key(raw: str) -> str:
    """Keys are 256-bit random tokens, so a plain SHA-256 is a safe one-way fingerprint."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def usable(self, now=None) -> ApiKeyQuerySet:
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiKey(TimeStampedModel):
    """A secret: server and client keys belong to an environment, console keys to a project.

    Only the SHA-256 of the key is stored; the key itself is shown once, when created.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="keys")
    # PROTECT: deleting an environment must revoke its keys first (environment_delete does).
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.PROTECT, related_name="keys"
    )
    kind = models.CharField(max_length=10, choices=KeyKind.choices)
    name = models.CharField(max_length=100, blank=True)
    # Console keys act with this role (never more than their creator's current role).
    role = models.CharField(max_length=10, choices=Role.choices, blank=True)
    key_hash = models.CharField(max_length=64)
    # The prefix and the first characters of the key, to tell keys apart in lists.
    hint = models.CharField(max_length=24)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rotated_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_to"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["key_hash"], name="console_apikey_hash_unique"),
            models.CheckConstraint(
                condition=(Q(kind="console") & Q(environment__isnull=True) & ~Q(role=""))
                | (~Q(kind="console") & Q(environment__isnull=False) & Q(role="")),
                name="console_apikey_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.hint}…"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at:
            return "expired" if self.expires_at <= timezone.now() else "expiring"
        return "active"


class AuditEvent(models.Model):
    """One recorded change: who did what to which object, with the values before and after.

    Append-only; written only by console.audit.audit_record in the same transaction.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # SET_NULL everywhere: the record outlives projects, users and keys.
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # How the actor is shown even after the account is gone ("system" when there is none).
    actor_label = models.CharField(max_length=254)
    via_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=200)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="console_audit_project_time"),
            models.Index(fields=["target_type", "target_id"], name="console_audit_target"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_label} by {self.actor_label}"


# ---------------------------------------------------------------- publishing


class RulesetVersion(TimeStampedModel):
    """One published state of a project's configuration: `number` counts up per project.

    Created only by console.publishing.services.spec_publish, with one ConfigSpec per
    environment; never edited afterwards.
    """

    # PROTECT: versions are the publishing history; a project with versions is archived.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="ruleset_versions")
    number = models.PositiveIntegerField()
    # SET_NULL: the version outlives the account of whoever published it (None = system).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True, max_length=2000)

    # Not stored: ruleset_version_create says whether it made this version or found the
    # configuration unchanged.
    was_created: bool

    class Meta:
        ordering = ["project_id", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "number"], name="console_rulesetversion_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(number__gte=1), name="console_rulesetversion_number_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} v{self.number}"


class ConfigSpecState(models.TextChoices):
    PENDING = "pending", "Pending"
    PUSHED = "pushed", "Pushed"
    FAILED = "failed", "Failed"
    # A newer spec of the environment reached Redis first; this one is never pushed.
    SUPERSEDED = "superseded", "Superseded"


class ConfigSpec(TimeStampedModel):
    """The download_config_specs of one environment at one ruleset version (v1 and v2).

    The bodies, checksums and `time_ms` are immutable; only the publish state fields change
    (console.publishing.services). `time_ms` grows strictly per environment: SDKs ignore a
    payload whose time is not newer than the one they hold.
    """

    # CASCADE: a deleted environment's specs serve nobody (its keys are deleted with it);
    # the ruleset version keeps the history of the other environments.
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="config_specs"
    )
    ruleset_version = models.ForeignKey(
        RulesetVersion, on_delete=models.PROTECT, related_name="config_specs"
    )
    time_ms = models.BigIntegerField()
    # The bodies, as the digests of the SpecChunks they are made of, in order (one chunk
    # per run of entities, console.specs.incremental.Segments): versions and environments
    # share the chunks they have in common. `v1_json` and `v2_json` read them.
    v1_chunks = ArrayField(models.CharField(max_length=64), default=list)
    v2_chunks = ArrayField(models.CharField(max_length=64), default=list)
    # sha256 hex of v1_json as served, and of the content regardless of `time` (what
    # spec_publish compares to tell an identical ruleset).
    checksum = models.CharField(max_length=64)
    content_checksum = models.CharField(max_length=64)
    # sha256 hex of what SDKs answer from the spec (console.specs.behaviour), so that a dry
    # run's "before" needs no parse of the published body. "" for a spec published before
    # it was recorded (the migration fills each environment's newest).
    behaviour_checksum = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(
        max_length=10, choices=ConfigSpecState.choices, default=ConfigSpecState.PENDING
    )
    last_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    pushed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["environment_id", "-time_ms"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "time_ms"], name="console_configspec_time_unique"
            ),
            models.UniqueConstraint(
                fields=["environment", "ruleset_version"], name="console_configspec_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(time_ms__gt=0), name="console_configspec_time_positive"
            ),
        ]
        indexes = [
            # The repush scan: specs still to push.
            models.Index(
                fields=["state"],
                condition=Q(state__in=["pending", "failed"]),
                name="console_configspec_todo",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.environment} @ {self.time_ms}"

    @property
    def v1_json(self) -> str:
        """The v1 body (console.publishing.bodies: a query for the chunks this process has
        not read yet)."""
        from console.publishing import bodies

        return bodies.text(self.v1_chunks)

    @property
    def v2_json(self) -> str:
        """The v2 body ("" for a spec built without one)."""
        from console.publishing import bodies

        return bodies.text(self.v2_chunks)


class SpecChunk(models.Model):
    """A run of a spec body, by the sha256 of its UTF-8 (content-addressed, immutable):
    what ConfigSpec.v1_chunks / v2_chunks list. A change to one gate stores a few chunks,
    not the environments' whole bodies again (console.publishing.bodies). Each project
    holds its own, so what a project's specs no longer list can go under that project's
    lock (an environment deleted) without another project's publish ever listing it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)
    body = models.TextField()

    class Meta:
        constraints = [
            # digest first: readers look chunks up by digest alone (any copy is the same).
            models.UniqueConstraint(
                fields=["digest", "project"], name="console_specchunk_digest_unique"
            )
        ]

    def __str__(self) -> str:
        return self.digest


# ---------------------------------------------------------------- webhooks


class WebhookDeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Webhook(TimeStampedModel):
    """An HTTP endpoint (Slack incoming webhook or any receiver) notified of project events.

    The signing secret is stored encrypted (Fernet, key derived from SECRET_KEY; see
    console.webhooks.crypto): the worker must read it back to sign, so a hash cannot do.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=100)
    # A Slack URL is itself a credential: pages and the audit log show `url_display`.
    url = models.CharField(max_length=2000)
    all_events = models.BooleanField(default=True)
    events = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    is_active = models.BooleanField(default=True)
    secret_encrypted = models.TextField()
    # The prefix and first characters of the secret, to tell secrets apart.
    secret_hint = models.CharField(max_length=24)
    # After a rotation, deliveries are signed with both secrets until this time, so
    # receivers can switch without dropping messages.
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    # SET_NULL: the webhook keeps working when its creator's account is deleted.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The outcome of the latest finished attempt (written by the delivery worker only).
    last_delivery_state = models.CharField(
        max_length=10, choices=WebhookDeliveryState.choices, blank=True
    )
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    last_response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("project", Lower("name"), name="console_webhook_name_unique"),
            models.CheckConstraint(
                condition=Q(all_events=True) | Q(events__len__gt=0),
                name="console_webhook_some_events",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def url_display(self) -> str:
        """Scheme and host only: paths and queries often carry the receiver's token."""
        scheme, _, rest = self.url.partition("://")
        netloc, sep, tail = rest.partition("/")
        netloc, qsep, query = netloc.partition("?")
        host = netloc.rpartition("@")[2]  # never show credentials
        hidden = (sep and tail) or (qsep and query)
        return f"{scheme}://{host}/…" if hidden else f"{scheme}://{host}"

    def wants(self, event: str) -> bool:
        return self.all_events or event in self.events


class WebhookDelivery(TimeStampedModel):
    """One event to send to one webhook, kept with its state so nothing accepted is lost.

    `payload` is the exact JSON body (fixed when the event happened); each attempt signs it
    afresh with the attempt's timestamp.
    """

    uuid = models.UUIDField(default=uuid.uuid4, editable=False)
    # CASCADE: deliveries of a deleted webhook have nowhere to go.
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    payload = models.JSONField()
    state = models.CharField(
        max_length=10, choices=WebhookDeliveryState.choices, default=WebhookDeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # When a pending delivery is due: the worker's retry runs then, and the beat safety net
    # re-enqueues deliveries overdue by a margin (enqueue lost, broker down, worker died).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    # Not stored: webhook_deliver says when the worker should try again, if it should.
    retry_in: int | None

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["uuid"], name="console_webhookdelivery_uuid_unique"),
            models.CheckConstraint(
                condition=(Q(state="pending") & Q(next_attempt_at__isnull=False))
                | (~Q(state="pending") & Q(next_attempt_at__isnull=True)),
                name="console_webhookdelivery_schedule",
            ),
            models.CheckConstraint(
                condition=Q(state="delivered", delivered_at__isnull=False)
                | (~Q(state="delivered") & Q(delivered_at__isnull=True)),
                name="console_webhookdelivery_delivered_at",
            ),
        ]
        indexes = [
            models.Index(fields=["webhook", "-created_at"], name="console_webhookdelivery_recent"),
            # The safety net's scan: pending deliveries by due time.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="console_webhookdelivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook} ({self.state})"
