"""Fixtures that start a real ``kaskada serve`` on free loopback ports.

CONTRACT STUB (the server issue fills it in):

- ``local_server`` (session scope): a running server; attributes ``endpoint``
  ("127.0.0.1:PORT"), ``token_url`` ("http://127.0.0.1:PORT/oauth/token"), ``db``
  (Path); methods ``add_client(account) -> (client_id, client_secret)`` and
  ``revoke_client(client_id)``.
- ``start_server`` (function scope): a factory ``start_server(**options)``
  returning a fresh server of the same shape, stopped after the test.
"""
