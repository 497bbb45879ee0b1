"""Where a stored secret may go: the binding kept with it in the keyring entry.

A profile's secret goes to its token endpoint, and the token it buys goes to
its API endpoint; both are destinations. The keyring entry records, next to the
secret, the client id, token endpoint, audience, API endpoint and TLS settings
(``is_secure``, ``ca_bundle``) it was stored for, completed as resolution would
complete them. Before a stored secret is used, the binding is compared with
the profile's fields as the file has them now: a file can be edited by someone
else or replaced by an import, the keyring entry cannot, so a mismatch sends
nothing. Keyword arguments given with ``profile=`` are the program's own choice
and are not compared (``explain()`` shows them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kaskada._errors import SecretBindingError
from kaskada.settings import schema as _schema
from kaskada.settings.hostport import is_loopback
from kaskada.settings.parse import endpoint_host, exchange_url
from kaskada.settings.schema import DEFAULT_ENDPOINT, DEFAULT_EXCHANGE_ENDPOINT

if TYPE_CHECKING:
    from kaskada.credentials.keyring import Entry

BOUND_FIELDS = _schema.BOUND_FIELDS  # the one table of settings says which


def binding_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The destinations a profile's own fields (PROFILE_KEYS) send a secret and a token to."""
    endpoint = fields.get("endpoint") or DEFAULT_ENDPOINT
    exchange = fields.get("exchange_endpoint")
    is_secure = fields.get("is_secure")
    if is_secure is None:
        is_secure = not is_loopback(endpoint_host(endpoint))
    binding = {
        "client_id": fields.get("client_id"),
        "endpoint": endpoint,
        "is_secure": bool(is_secure),
        "exchange_endpoint": exchange_url(exchange) if exchange else DEFAULT_EXCHANGE_ENDPOINT,
        "audience": fields.get("audience"),
        "ca_bundle": fields.get("ca_bundle"),
    }
    auth = fields.get("auth") or LATER_BOUND["auth"]
    if auth != LATER_BOUND["auth"]:  # a client secret's entry stays as it was stored
        issuer = fields.get("issuer")
        binding.update(auth=auth, issuer=str(issuer).rstrip("/") if issuer else None)
    return binding


LATER_BOUND: Mapping[str, Any] = {"auth": "client_secret", "issuer": None}
"""Bound fields added after entries were stored, with the value an entry without them
was stored for: a client secret stored before ``auth`` existed stays usable, and a
refresh token (stored with ``auth = "device"``) is never sent as a client secret."""


def changed_fields(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The bound fields whose value differs (a field missing from ``stored`` differs,
    but those of LATER_BOUND, which take the value they had before they existed).

    ``current`` may hold more than BOUND_FIELDS: those are compared too.
    """
    names = list(dict.fromkeys([*BOUND_FIELDS, *current]))
    changed = []
    for key in names:
        if key in LATER_BOUND:
            if stored.get(key, LATER_BOUND[key]) != current.get(key, LATER_BOUND[key]):
                changed.append(key)
        elif key not in stored or key not in current or stored[key] != current[key]:
            changed.append(key)
    return changed


def check(name: str, entry: Entry, fields: Mapping[str, Any], *,
          bound: Mapping[str, Any] | None = None, fix: str | None = None) -> None:
    """Refuse (SecretBindingError) a stored secret that is not bound to these fields.

    ``bound``: the binding to compare with, when it is more than ``binding_of(fields)``.
    """
    fix = fix or f"store the secret again with `kaskada configure --profile {name}`"
    current = dict(bound) if bound is not None else binding_of(fields)
    if not entry.secret:
        raise SecretBindingError(
            f"the stored entry (keyring or plain-text file) of profile '{name}' holds an "
            "empty secret, which is never "
            f"sent: {fix}"
        )
    if entry.binding is None:
        raise SecretBindingError(
            f"the secret of profile '{name}' was stored by kaskada 0.1 without a record of "
            f"where it may go, so it is not sent: {fix} (once; see docs/profiles.md)"
        )
    changed = changed_fields(entry.binding, current)
    if changed:
        details = ", ".join(
            f"{field} was {entry.binding.get(field, LATER_BOUND.get(field))!r}, is "
            f"{current.get(field, LATER_BOUND.get(field))!r}"
            for field in changed
        )
        raise SecretBindingError(
            f"the secret of profile '{name}' was stored for other settings than the profile "
            f"has now ({details}), so it is not sent: if the new settings are right, {fix}; "
            "otherwise restore the profile's settings"
        )
