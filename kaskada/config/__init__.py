"""The profiles file: where it is, its names, parsing and trust checks, atomic writes
under a lock, and the profile lifecycle (add, remove, rename, import, set).

Internal: the public surface is ``kaskada.profiles``. First step of the data's way:
config file -> settings -> credentials -> transport -> API.
"""
