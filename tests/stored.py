"""Read a raw keyring password the way kaskada stores it (a v2 entry with its binding)."""

from __future__ import annotations

from kaskada.credentials.keyring import decode_entry


def stored(raw: str | None) -> str | None:
    """The secret inside a raw keyring password, or None when there is none."""
    return None if raw is None else decode_entry(raw).secret.reveal()


def secrets(store: dict[tuple[str, str], str]) -> dict[tuple[str, str], str | None]:
    """An in-memory keyring's contents with each entry read down to its secret."""
    return {key: stored(value) for key, value in store.items()}


def entry(secret: str, **fields: object) -> str:
    """A raw v2 keyring password for ``secret`` bound to a profile with ``fields``."""
    from kaskada._secret import Secret
    from kaskada.credentials.binding import binding_of
    from kaskada.credentials.keyring import encode_entry

    return encode_entry(Secret(secret), binding_of(fields))
