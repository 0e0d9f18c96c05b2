"""Notifications as webhooks following the Standard Webhooks specification.

Every event is stored as one *delivery* per subscribed endpoint in the same transaction as the
change it reports, then sent by :func:`deliver_due` (the ticker calls it). A request carries
``webhook-id`` (the same on every retry, so receivers can de-duplicate), ``webhook-timestamp``
and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, once per
secret of the endpoint, space separated — during a rotation the old and the new secret both
sign. Failures are retried with exponential back-off and jitter for about a day
(:data:`RETRY_DELAYS`); ``410 Gone`` disables the endpoint. Targets that resolve to loopback,
private, link-local or otherwise non-public addresses are refused unless
``webhook_allow_private`` is set (a webhook must not become a way into the internal network).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import secrets as secret_tokens
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from shelfscan.audits.models import WebhookDelivery, WebhookEndpoint
from shelfscan.db.base import utcnow
from shelfscan.services.errors import Invalid, NotFound

EVENT_TYPES = (
    "occurrence.opened",
    "occurrence.due_soon",
    "occurrence.overdue",
    "occurrence.missed",
    "occurrence.done",
    "stock.critical_out_of_stock",
    "task.closed",
)

# Delay before attempt n+1 after failed attempt n (Standard Webhooks' suggested schedule):
# about 27 hours in all. Each delay gets ±20 % jitter so that endpoints that failed together
# are not retried together.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.2
# A claimed delivery is not picked again by another sender for this long.
SEND_LEASE = timedelta(minutes=2)
MAX_LOGGED_ATTEMPTS = 20


class DeliveryState:
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # gave up: retries exhausted or the endpoint is gone


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secret_tokens.token_bytes(24)).decode()


def _check_secret(secret: str) -> str:
    try:
        Webhook(secret)
    except Exception:
        raise Invalid(
            "invalid_secret",
            "a webhook secret is 'whsec_' followed by base64 (at least 16 bytes)",
            field="secrets",
        ) from None
    raw = secret.removeprefix("whsec_")
    if len(base64.b64decode(raw + "==")) < 16:
        raise Invalid("invalid_secret", "a webhook secret needs at least 16 bytes", field="secrets")
    return secret


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_target(url: str, *, allow_private: bool, resolve: bool = True) -> str:
    """``url`` when it is an http(s) URL whose host resolves only to public addresses (or
    ``allow_private``); else :class:`Invalid` naming the reason."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise Invalid("invalid_webhook_url", "url must be an http(s) URL with a host", field="url")
    if parts.username or parts.password:
        raise Invalid("invalid_webhook_url", "url must not carry credentials", field="url")
    if allow_private or not resolve:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise Invalid(
            "invalid_webhook_url",
            f"host {parts.hostname!r} does not resolve: {error}",
            field="url",
        ) from None
    addresses = {info[4][0] for info in infos}
    private = sorted(a for a in addresses if not _is_public(a))
    if private:
        raise Invalid(
            "webhook_target_private",
            f"host {parts.hostname!r} resolves to a loopback/private address ({private[0]}); "
            "set SHELFSCAN_WEBHOOK_ALLOW_PRIVATE=true to allow it",
            field="url",
        )
    return url


def create_endpoint(
    session: Session,
    url: str,
    *,
    allow_private: bool,
    secrets: list[str] | None = None,
    event_types: list[str] | None = None,
    description: str = "",
) -> WebhookEndpoint:
    check_target(url, allow_private=allow_private)
    unknown = sorted(set(event_types or ()) - set(EVENT_TYPES))
    if unknown:
        raise Invalid(
            "invalid_event_type",
            f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}",
            field="event_types",
        )
    chosen = [_check_secret(s) for s in secrets] if secrets else [new_secret()]
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        secrets={"secrets": chosen},
        event_types={"types": sorted(set(event_types or ()))},
        enabled=True,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound("not_found", f"webhook endpoint {endpoint_id} not found")
    return endpoint


def rotate_secret(session: Session, endpoint: WebhookEndpoint, keep_old: int = 1) -> str:
    """Add a new secret first and keep the newest ``keep_old`` older ones signing too, so
    receivers can switch at their pace; the new secret is returned (shown once)."""
    fresh = new_secret()
    endpoint.secrets = {"secrets": [fresh, *endpoint.secrets["secrets"][:keep_old]]}
    session.flush()
    return fresh


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def emit(session: Session, event_type: str, data: dict[str, Any], now: datetime) -> int:
    """Queue ``event_type`` for every enabled endpoint subscribed to it (in the caller's
    transaction: the event exists exactly when the change it reports does). Returns the
    number of deliveries queued."""
    assert event_type in EVENT_TYPES, event_type
    queued = 0
    for endpoint in session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
    ):
        types = endpoint.event_types.get("types") or []
        if types and event_type not in types:
            continue
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                message_id=f"msg_{uuid.uuid4().hex}",
                event_type=event_type,
                payload={"type": event_type, "timestamp": now.isoformat(), "data": data},
                state=DeliveryState.PENDING,
                attempts=0,
                next_attempt_at=now,
                log={"attempts": []},
            )
        )
        queued += 1
    return queued


def body_of(delivery: WebhookDelivery) -> str:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)


def signed_headers(
    message_id: str, timestamp: datetime, body: str, secrets: Iterable[str]
) -> dict[str, str]:
    signatures = " ".join(
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
        for secret in secrets
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": "shelfscan-webhooks/1",
    }


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta | None:
    """The wait after ``attempts`` failed attempts, jittered; None once they are used up."""
    if attempts > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[attempts - 1]
    factor = 1 + (rng or random).uniform(-JITTER, JITTER)
    return base * factor


@dataclass
class SendResult:
    status: int | None
    error: str | None
    ms: float


Sender = Callable[[str, dict[str, str], str, float], SendResult]


def http_send(url: str, headers: dict[str, str], body: str, timeout_s: float) -> SendResult:
    started = time.perf_counter()
    try:
        # No redirects: a redirect to an internal address would bypass the target check.
        response = httpx.post(
            url, content=body, headers=headers, timeout=timeout_s, follow_redirects=False
        )
        return SendResult(response.status_code, None, _ms(started))
    except httpx.HTTPError as error:
        return SendResult(None, f"{type(error).__name__}: {error}", _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _claim(session: Session, delivery: WebhookDelivery, now: datetime) -> bool:
    """Take ``delivery`` for this sender: moves its next attempt past the lease with a
    conditional update, so two senders never send the same attempt."""
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            WebhookDelivery.state == DeliveryState.PENDING,
            WebhookDelivery.attempts == delivery.attempts,
        )
        .values(next_attempt_at=now + SEND_LEASE, attempts=delivery.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]


def deliver_due(
    session: Session,
    *,
    now: datetime | None = None,
    allow_private: bool = False,
    timeout_s: float = 10.0,
    send: Sender = http_send,
    limit: int = 100,
    rng: random.Random | None = None,
) -> list[int]:
    """Send the deliveries whose next attempt is due; returns the ids attempted. Commits."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.state == DeliveryState.PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
    )
    attempted = []
    for delivery in due:
        if not _claim(session, delivery, now):
            continue
        session.refresh(delivery)
        attempted.append(delivery.id)
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        assert endpoint is not None
        if not endpoint.enabled:
            _record(delivery, now, None, f"endpoint disabled: {endpoint.disabled_reason}", 0)
            delivery.state = DeliveryState.FAILED
            delivery.next_attempt_at = None
            session.commit()
            continue
        body = body_of(delivery)
        sent_at = datetime.now(UTC)
        try:
            check_target(endpoint.url, allow_private=allow_private)
            result = send(
                endpoint.url,
                signed_headers(delivery.message_id, sent_at, body, endpoint.secrets["secrets"]),
                body,
                timeout_s,
            )
        except Invalid as refused:
            result = SendResult(None, refused.message, 0.0)
        _record(delivery, now, result.status, result.error, result.ms)
        if result.status is not None and 200 <= result.status < 300:
            delivery.state = DeliveryState.SUCCEEDED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif result.status == 410:
            delivery.state = DeliveryState.FAILED
            delivery.next_attempt_at = None
            endpoint.enabled = False
            endpoint.disabled_reason = f"answered 410 Gone at {now.isoformat()}"
        else:
            wait = retry_delay(delivery.attempts, rng)
            if wait is None:
                delivery.state = DeliveryState.FAILED
                delivery.next_attempt_at = None
            else:
                delivery.next_attempt_at = now + wait
        session.commit()
    return attempted


def _record(
    delivery: WebhookDelivery, at: datetime, status: int | None, error: str | None, ms: float
) -> None:
    delivery.last_status = status
    delivery.last_error = error
    entries = [
        *delivery.log.get("attempts", []),
        {"at": at.isoformat(), "status": status, "error": error, "ms": ms},
    ]
    delivery.log = {"attempts": entries[-MAX_LOGGED_ATTEMPTS:]}


def list_deliveries(
    session: Session, *, endpoint_id: int | None = None, state: str | None = None, limit: int = 100
) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    return list(session.scalars(query))
