"""A value that must never be shown: client secrets and access tokens.

Wrapping the value makes leaks structural rather than a matter of care: repr,
str, format and logging show a mask, pickling is refused (so a secret cannot
travel into a file or another process by accident), and equality is
constant-time.
"""

from __future__ import annotations

# hashlib and hmac load where a digest or a comparison is made: `import kaskada`
# imports this module and does neither.

MASK = "********"


class Secret:
    """A string that reveals itself only through :meth:`reveal`."""

    __slots__ = ("_value",)
    _value: str
    MASK = MASK  # what is shown instead of the value

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("a Secret holds a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The plain value, for the one place that must send it."""
        return self._value

    def fingerprint(self) -> str:
        """A SHA-256 hex digest: a cache key that is not the secret."""
        import hashlib  # lazily: see the imports above

        return hashlib.sha256(self.reveal().encode()).hexdigest()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __bool__(self) -> bool:
        return bool(self.reveal())

    def __len__(self) -> int:
        return len(self.reveal())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            import hmac  # lazily: see the imports above

            return hmac.compare_digest(self.reveal().encode(), other.reveal().encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self.fingerprint()))

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret refuses to be pickled: keep it in the keyring")

    def __reduce_ex__(self, protocol: object) -> str | tuple[object, ...]:
        raise TypeError("a Secret refuses to be pickled: keep it in the keyring")

    def __getstate__(self) -> object:
        raise TypeError("a Secret refuses to be pickled: keep it in the keyring")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self


def _spellings(value: str) -> set[str]:
    """The ways a value can come back inside a server's text: as is, form- or
    percent-encoded (an echoed request body), JSON-escaped, or as a bearer header."""
    # Here: this module loads with `import kaskada`, which json and urllib.parse
    # would slow; only a failure scrubs text.
    import json
    from urllib.parse import quote, quote_plus

    forms = {value, quote(value, safe=""), quote_plus(value, safe=""), json.dumps(value)[1:-1]}
    return {form for form in forms if form}


def scrub(text: str, *secrets: Secret | str | None) -> str:
    """``text`` with every spelling of each secret replaced by the mask, and terminal
    controls and bidi overrides escaped (``_printable``).

    For text a server sent back (an error description, a gRPC status message or
    detail), which may echo what the request carried, and which goes into an
    exception message that may reach a terminal uncaught.
    """
    from kaskada._printable import printable  # only a failure scrubs text

    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if not value:
            continue
        for form in sorted(_spellings(value), key=len, reverse=True):
            text = text.replace(form, MASK)
    return printable(text)
