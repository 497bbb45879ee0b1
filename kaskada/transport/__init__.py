"""The gRPC transport: the channel pool (sync) and its asyncio twin, retries,
back-pressure and the mapping of gRPC errors to kaskada's.

Internal: users pass ``channel_options`` and ``interceptors`` to ``kda.session()``.
Fourth step of the data's way: config file -> settings -> credentials -> transport -> API.
"""
