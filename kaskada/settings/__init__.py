"""Settings: the one table of settings (``schema``), the values with their sources
(``values``), parsing, built-in defaults, the resolution layers (``resolve``) and
``kda.explain()``'s presentation.

Internal: the public surface is ``kaskada`` (``init``, ``session``, ``explain``).
Second step of the data's way: config file -> settings -> credentials -> transport -> API.
"""
