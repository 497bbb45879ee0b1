"""Type-checker view of ``kaskada/__init__.py``: the same names, the lazy ones declared.

(SPEC 1 of the scientific Python ecosystem: a package that loads names lazily
declares them in a stub.) tests/test_shape.py checks this list against ``__all__``.
"""

from kaskada import credentials as credentials
from kaskada import profiles as profiles
from kaskada import table as table
from kaskada._errors import (
    AlreadyExistsError as AlreadyExistsError,
)
from kaskada._errors import (
    ApiAuthenticationError as ApiAuthenticationError,
)
from kaskada._errors import (
    ApiError as ApiError,
)
from kaskada._errors import (
    ApiUnavailableError as ApiUnavailableError,
)
from kaskada._errors import (
    AuthenticationError as AuthenticationError,
)
from kaskada._errors import (
    ConfigError as ConfigError,
)
from kaskada._errors import (
    CredentialsError as CredentialsError,
)
from kaskada._errors import (
    DelegationExpiredError as DelegationExpiredError,
)
from kaskada._errors import (
    IncompleteCredentialsError as IncompleteCredentialsError,
)
from kaskada._errors import (
    InsecureConnectionError as InsecureConnectionError,
)
from kaskada._errors import (
    InvalidArgumentError as InvalidArgumentError,
)
from kaskada._errors import (
    InvalidProfileNameError as InvalidProfileNameError,
)
from kaskada._errors import (
    KaskadaError as KaskadaError,
)
from kaskada._errors import (
    KeyringError as KeyringError,
)
from kaskada._errors import (
    KeyringTimeoutError as KeyringTimeoutError,
)
from kaskada._errors import (
    NoCredentialsError as NoCredentialsError,
)
from kaskada._errors import (
    NoKeyringError as NoKeyringError,
)
from kaskada._errors import (
    NotFoundError as NotFoundError,
)
from kaskada._errors import (
    ProfileExistsError as ProfileExistsError,
)
from kaskada._errors import (
    ProfileNotFoundError as ProfileNotFoundError,
)
from kaskada._errors import (
    SecretBindingError as SecretBindingError,
)
from kaskada._errors import (
    TokenEndpointUnavailableError as TokenEndpointUnavailableError,
)
from kaskada._errors import (
    UnavailableError as UnavailableError,
)
from kaskada._errors import (
    UntrustedConfigError as UntrustedConfigError,
)
from kaskada._secret import Secret as Secret
from kaskada._session import DelegatedSession as DelegatedSession
from kaskada._session import Session as Session
from kaskada._session import explain as explain
from kaskada._session import init as init
from kaskada._session import session as session
from kaskada.credentials.login import login as login
from kaskada.server._errors import ServerError as ServerError
from kaskada.settings.explain import Explanation as Explanation

__version__: str
__all__: list[str]
