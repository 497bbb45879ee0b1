"""A ``secret_command`` profile's credentials: the program runs when a token is needed.

Never when the profile is resolved (``kda.session(profile=…)``, ``explain()`` run
nothing): the first call that needs a token runs it, as the AWS CLI runs a
``credential_process``. What it prints (``profile_stores.CommandStore.run``) is a client
secret, exchanged at the token endpoint, or a JSON token used until it expires, then the
program runs again. Either way the token is shared with the user's other processes
through the token cache on disk, so a warm call runs nothing.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from kaskada._secret import Secret
from kaskada.credentials.access_token import Token
from kaskada.credentials.profile_stores import CommandStore, CommandToken
from kaskada.credentials.tokens import Credentials, Request, exchange, exchange_key, post_form

if TYPE_CHECKING:
    from kaskada.credentials.token_cache import Entry
    from kaskada.settings.values import Settings, SignIn


class CommandCredentials(Credentials):
    """A ``secret_command`` profile's credentials: the program runs when a token is needed,
    never when the profile is resolved. What it prints is a client secret, exchanged at
    the token endpoint, or a JSON token used until it expires (then the program runs
    again); either way the token is shared with other processes through the disk cache."""

    def __init__(
        self,
        sign_in: SignIn,
        url: str,
        client_id: str,
        audience: str | None,
        *,
        timeout: float,
        ca_bundle: str | None,
        disk: Entry | None = None,
        request: Request = post_form,
    ) -> None:
        super().__init__(request=request)
        self.command = CommandStore(sign_in.profile or "NAME", sign_in.command or ())
        self.url = url
        self.client_id = client_id
        self._audience = audience
        self._timeout = timeout
        self._ca_bundle = ca_bundle
        self._disk = disk
        self._printed: Secret | None = None  # the last secret printed, to scrub

    @classmethod
    def from_settings(
        cls, settings: Settings, disk: Entry | None = None, request: Request = post_form
    ) -> CommandCredentials:
        return cls(
            settings.auth.value, settings.exchange_endpoint.value or "",
            settings.client_id.value or "", settings.audience.value,
            timeout=settings.timeout.value, ca_bundle=settings.ca_bundle.value, disk=disk,
            request=request,
        )  # fmt: skip

    @classmethod
    def sharing_key(cls, settings: Settings, disk: Entry | None, request: Request) -> Hashable:
        return (exchange_key(settings, disk, request), settings.auth.value)

    def describe(self) -> str:
        return f"{self.command.describe()} (secret_command of profile {self.command.profile!r})"

    def _new_token(self, request: Request, stale: Secret | None) -> Token:
        def run_now() -> Token:
            output = self.command.run()
            if isinstance(output, CommandToken):
                return output.as_token()
            self._printed = output
            return exchange(
                self.url, self.client_id, output, audience=self._audience,
                timeout=self._timeout, ca_bundle=self._ca_bundle, request=request,
            )  # fmt: skip

        if self._disk is not None:  # another process may hold one: the program need not run
            return self._disk.fetch(run_now, stale)
        return run_now()

    def sent_secrets(self) -> tuple[Secret, ...]:
        return () if self._printed is None else (self._printed,)
