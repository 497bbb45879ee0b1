"""A ``secret_command`` profile's credentials: the program runs when a token is needed.

Never when the profile is resolved (``kda.session(profile=…)``, ``explain()`` run
nothing): the first call that needs a token runs it, as the AWS CLI runs a
``credential_process``. What it prints (``profile_stores.CommandStore.run``) is a client
secret, exchanged at the token endpoint, or a JSON token used until it expires, then the
program runs again. Either way the token is shared with the user's other processes
through the token cache on disk, so a warm call runs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaskada._secret import Secret
from kaskada.credentials.access_token import Token
from kaskada.credentials.profile_stores import CommandStore, CommandToken
from kaskada.credentials.tokens import Request, SignInCredentials, exchange

if TYPE_CHECKING:
    pass


class CommandCredentials(SignInCredentials):
    """A ``secret_command`` profile's credentials: the program runs when a token is needed,
    never when the profile is resolved. What it prints is a client secret, exchanged at
    the token endpoint, or a JSON token used until it expires (then the program runs
    again); either way the token is shared with other processes through the disk cache."""

    _printed: Secret | None = None  # the last secret the program printed, to scrub

    @property
    def command(self) -> CommandStore:
        """The profile's program, as the settings name it."""
        return CommandStore(self.name, self.sign_in.command or ())

    def describe(self) -> str:
        return f"{self.command.describe()} (secret_command of profile {self.command.profile!r})"

    def _buy(self, request: Request) -> Token:
        output = self.command.run()
        if isinstance(output, CommandToken):
            return output.as_token()
        self._printed = output
        return exchange(
            self.url, self.client_id, output, audience=self._audience,
            timeout=self._timeout, ca_bundle=self._ca_bundle, request=request,
        )  # fmt: skip

    def sent_secrets(self) -> tuple[Secret, ...]:
        return () if self._printed is None else (self._printed,)
