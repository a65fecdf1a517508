"""Webhook URLs cannot reach this server, the private network or cloud metadata (SSRF):
refused at save time (service and API) and at send time, where the connection is pinned
to the address that was checked. The protections are on by default here: only tests that
say so allow a receiver host."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from django.urls import reverse

from console.exceptions import DomainError
from console.models import Webhook, WebhookDeliveryState
from console.netguard import address_allowed, parse_ip
from console.webhooks.delivery import webhook_deliver
from console.webhooks.services import webhook_create, webhook_send_test

pytestmark = pytest.mark.django_db

HOSTILE = [
    "https://169.254.169.254/latest/meta-data/",
    "https://127.0.0.1:6379/",
    "https://127.0.0.2/",
    "https://[::1]/",
    "https://127.1/",
    "https://2130706433/",
    "https://0177.0.0.1/",
    "https://0x7f.1/",
    "https://0x7f000001/",
    "https://017700000001/",
    "https://0/",
    "https://0.0.0.0/",
    "https://[::]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::127.0.0.1]/",
    "https://[2002:7f00:1::]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[64:ff9b::10.0.0.1]/",
    "https://[fd00:ec2::254]/",
    "https://[fe80::1]/",
    "https://[fc00::1]/",
    "https://[ff02::1]/",
    "https://10.0.0.1/",
    "https://172.16.5.4/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",
    "https://100.100.100.200/",
    "https://224.0.0.1/",
    "https://240.0.0.1/",
    "https://255.255.255.255/",
    "https://192.0.2.1/",
    "https://198.18.0.1/",
    "https://localhost/",
    "https://LOCALHOST./",
    "https://localhost:8000/",
    "https://api.localhost/",
    "https://127.0.0.1./",
    "https://169.254.169.254./",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_webhook_create__hostile_address__refused(project, site_admin, url):
    with pytest.raises(DomainError) as refused:
        webhook_create(actor=site_admin, project=project, name="Scan", url=url)
    assert refused.value.code == "forbidden_address"
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("url", HOSTILE)
def test_api_webhooks__hostile_address__400(client, project, site_admin, url):
    client.force_login(site_admin)
    api = reverse("webhooks-api:api-webhook-list") + f"?project={project.slug}"
    response = client.post(api, {"name": "Scan", "url": url}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "forbidden_address"
    assert set(response.json()) >= {"message", "code"}
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://user:pass@hooks.example.com/x", "url_credentials"),
        ("https://token@hooks.example.com/x", "url_credentials"),
        ("http://hooks.example.com/x", "https_required"),
        ("http://127.0.0.1:9/x", "https_required"),
    ],
)
def test_webhook_create__credentials_or_http__refused(project, site_admin, url, code):
    with pytest.raises(DomainError) as refused:
        webhook_create(actor=site_admin, project=project, name="X", url=url)
    assert refused.value.code == code
    assert not Webhook.objects.exists()


def test_webhook_create__public_https__accepted(project, site_admin):
    issued = webhook_create(
        actor=site_admin,
        project=project,
        name="Slack",
        url="https://hooks.slack.com/services/T/B/x",
    )
    assert issued.webhook.pk


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("hooks.example.com", None),
        ("1.2.3.4.example", None),
    ],
)
def test_parse_ip__libc_spellings(host, expected):
    assert (str(parse_ip(host)) if parse_ip(host) else None) == expected


def test_address_allowed__global_only():
    assert address_allowed(parse_ip("8.8.8.8"))
    assert address_allowed(parse_ip("2606:4700:4700::1111"))
    assert not address_allowed(parse_ip("::ffff:10.1.1.1"))


# ---------------------------------------------------------------- send time


class Listener:
    """A real TCP listener on loopback that counts the connections it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.3)
        self.port = self.sock.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.sock.close()


def _store_url(webhook: Webhook, url: str) -> None:
    """A row saved before these checks existed (the service refuses such URLs now)."""
    Webhook.objects.filter(pk=webhook.pk).update(url=url)


def test_send__name_rebinds_to_loopback__refused_never_connects(project, site_admin, listener):
    issued = webhook_create(
        actor=site_admin, project=project, name="R", url=f"https://rebind.example:{listener.port}/h"
    )
    delivery = webhook_send_test(actor=site_admin, webhook=issued.webhook)
    real = socket.getaddrinfo

    def rebinding_dns(host, *args, **kwargs):  # the DNS now answers loopback
        if host == "rebind.example":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    with mock.patch("socket.getaddrinfo", rebinding_dns):
        result = webhook_deliver(delivery_id=delivery.pk)
    assert result.state == WebhookDeliveryState.FAILED
    assert "127.0.0.1" in result.last_error
    assert result.last_error.startswith("Refused")
    assert listener.connections() == 0


@pytest.mark.parametrize("host", ["localhost", "127.1", "[::ffff:127.0.0.1]", "2130706433"])
def test_send__stored_loopback_url__failed_not_retried(project, site_admin, listener, host):
    issued = webhook_create(
        actor=site_admin, project=project, name="L", url="https://hooks.example.com/h"
    )
    _store_url(issued.webhook, f"http://{host}:{listener.port}/h")
    delivery = webhook_send_test(actor=site_admin, webhook=issued.webhook)
    result = webhook_deliver(delivery_id=delivery.pk)
    assert result.state == WebhookDeliveryState.FAILED
    assert result.next_attempt_at is None
    assert result.last_error.startswith("Refused")
    assert listener.connections() == 0


def test_send__pinned_to_checked_address(project, site_admin, settings):
    """The address checked is the one connected to, whatever DNS says afterwards."""
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    settings.GATEHOUSE_WEBHOOK_ALLOWED_HOSTS = [f"internal.example:{port}"]
    try:
        issued = webhook_create(
            actor=site_admin, project=project, name="I", url=f"http://internal.example:{port}/h"
        )
        delivery = webhook_send_test(actor=site_admin, webhook=issued.webhook)
        answers = iter(["127.0.0.1", "192.0.2.1"])  # first the check, then a rebind attempt
        real = socket.getaddrinfo

        def dns(host, *args, **kwargs):
            if host == "internal.example":
                return real(next(answers), *args, **kwargs)
            return real(host, *args, **kwargs)

        with mock.patch("socket.getaddrinfo", dns):
            result = webhook_deliver(delivery_id=delivery.pk)
    finally:
        server.shutdown()
        server.server_close()
    assert result.state == WebhookDeliveryState.DELIVERED
    assert received == [f"internal.example:{port}"]


def test_allowed_host__local_receiver_over_http_works(project, site_admin, settings):
    settings.GATEHOUSE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    got: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(int(self.headers["Content-Length"]))
            self.rfile.read(got[-1])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/h"
        issued = webhook_create(actor=site_admin, project=project, name="Local", url=url)
        delivery = webhook_send_test(actor=site_admin, webhook=issued.webhook)
        result = webhook_deliver(delivery_id=delivery.pk)
    finally:
        server.shutdown()
        server.server_close()
    assert result.state == WebhookDeliveryState.DELIVERED
    assert len(got) == 1
    # Another loopback host is still refused: the list names hosts, not a blanket allowance.
    with pytest.raises(DomainError):
        webhook_create(actor=site_admin, project=project, name="Other", url="http://127.0.0.2/")
