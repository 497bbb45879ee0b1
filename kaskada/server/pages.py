"""The device-login verification page: plain server-rendered HTML, no JavaScript.

A person opens ``/device`` (or the complete address with ``?user_code=``), signs in
to an account with a user name and password, checks the code and approves or denies.
Defences, each for the row "a page that frames the verification page, or posts to
it" of DESIGN.md's threat table:

- a CSRF token in the form that must equal a ``SameSite=Strict`` cookie set with the
  form, and carry this process's HMAC (a page elsewhere can neither read the cookie
  nor forge the token);
- ``Content-Security-Policy: frame-ancestors 'none'`` (and ``X-Frame-Options: DENY``)
  so no page can frame it to steal a click; ``default-src 'none'``: no script runs;
- ``Cache-Control: no-store``; every value written into the page is HTML-escaped.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets

CSRF_COOKIE = "kaskada_csrf"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em}"
    "label{display:block;margin:.6em 0 .2em}input{font-size:1.1em;width:100%}"
    "button{font-size:1.1em;margin:1em .5em 0 0}.code{font-family:monospace;letter-spacing:.1em}"
    ".error{color:#a00}"
)


class Csrf:
    """Signed double-submit tokens: ``nonce.hmac``, also sent as a cookie."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def new(self) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._sign(nonce)}"

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()[:32]

    def valid(self, field: str | None, cookie: str | None) -> bool:
        if not field or not cookie or not hmac.compare_digest(field, cookie):
            return False
        nonce, _, signature = field.partition(".")
        return hmac.compare_digest(signature, self._sign(nonce))


def cookie_header(token: str) -> str:
    return f"{CSRF_COOKIE}={token}; Path=/device; HttpOnly; SameSite=Strict; Max-Age=900"


def read_cookie(header: str | None) -> str | None:
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == CSRF_COOKIE:
            return value
    return None


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def form(csrf: str, user_code: str = "", account: str = "", user: str = "",
         error: str = "") -> str:
    """The sign-in and approval form; every value escaped."""
    e = html.escape
    problem = f"<p class=\"error\" id=\"error\">{e(error)}</p>" if error else ""
    return _page("Sign in to kaskada", (
        f"{problem}<p>A device asked to sign in to kaskada as you. Check that the code "
        "below is the one your terminal shows, then sign in and approve.</p>"
        "<form method=\"post\" action=\"/device\">"
        f"<input type=\"hidden\" name=\"csrf_token\" value=\"{e(csrf)}\">"
        "<label for=\"user_code\">Code</label>"
        f"<input class=\"code\" id=\"user_code\" name=\"user_code\" value=\"{e(user_code)}\" "
        "autocomplete=\"off\" required>"
        "<label for=\"account\">Account</label>"
        f"<input id=\"account\" name=\"account\" value=\"{e(account)}\" required>"
        "<label for=\"username\">User name</label>"
        f"<input id=\"username\" name=\"username\" value=\"{e(user)}\" "
        "autocomplete=\"username\" required>"
        "<label for=\"password\">Password</label>"
        "<input id=\"password\" name=\"password\" type=\"password\" "
        "autocomplete=\"current-password\" required>"
        "<button id=\"approve\" name=\"action\" value=\"approve\">Approve</button>"
        "<button id=\"deny\" name=\"action\" value=\"deny\">Deny</button>"
        "</form>"
    ))


def done(approved: bool, account: str, user: str) -> str:
    e = html.escape
    if approved:
        return _page("Signed in", (
            f"<p id=\"result\">Approved: the device is signed in as <b>{e(user)}</b> of "
            f"account <b>{e(account)}</b>. You can close this page and return to your "
            "terminal.</p>"))
    return _page("Denied", (
        "<p id=\"result\">Denied: the device was not signed in. You can close this page.</p>"))


def refused(message: str) -> str:
    return _page("Request refused", (
        f"<p class=\"error\" id=\"error\">{html.escape(message)}</p>"
        "<p><a href=\"/device\">Start again</a></p>"))
