"""Type-checker view of ``kaskada/credentials/__init__.py`` (its names load lazily)."""

from kaskada.credentials.command import CommandCredentials as CommandCredentials
from kaskada.credentials.signin import DeviceCredentials as DeviceCredentials
from kaskada.credentials.signin import FederatedCredentials as FederatedCredentials
from kaskada.credentials.stores import GivenSecret as GivenSecret
from kaskada.credentials.stores import KeyringStore as KeyringStore
from kaskada.credentials.stores import SecretStore as SecretStore
from kaskada.credentials.tokens import ClientSecretCredentials as ClientSecretCredentials
from kaskada.credentials.tokens import Credentials as Credentials
from kaskada.credentials.tokens import DelegatedCredentials as DelegatedCredentials
from kaskada.credentials.tokens import EndpointCredentials as EndpointCredentials
from kaskada.credentials.tokens import Request as Request
from kaskada.credentials.tokens import SignInCredentials as SignInCredentials
from kaskada.credentials.tokens import TokenCredentials as TokenCredentials
from kaskada.credentials.tokens import TransientError as TransientError
from kaskada.credentials.tokens import post_form as post_form
from kaskada.settings.values import SignIn as SignIn
from kaskada.settings.values import StoredSecret as StoredSecret

__all__: list[str]
