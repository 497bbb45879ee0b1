"""``kda.explain()``: every setting in force, its value (secrets masked) and its source.

Users debug "which account am I?" by reading this, and ``kaskada whoami`` and
``kaskada profile current`` print it; so it never holds a secret in the clear.
Presentation only: it is handed a ``Settings`` and reads no session state
(``kda.explain()`` itself lives with the sessions, in ``_session``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kaskada._secret import MASK, Secret
from kaskada.settings.values import Settings, StoredSecret


def _mask(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Secret | StoredSecret):
        return MASK
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Explanation:
    """Rows of (setting, masked value, source), plus the layer that supplied them."""

    __module__ = "kaskada"  # shown as kaskada.X (it is exported there)

    layer: str
    rows: tuple[tuple[str, str | None, str], ...]
    title: str = "settings in force"

    @classmethod
    def from_settings(cls, settings: Settings, *, title: str = "settings in force") -> Explanation:
        rows = tuple((name, _mask(value), source) for name, value, source in settings.rows())
        return cls(layer=settings.layer, rows=rows, title=title)

    def __str__(self) -> str:
        width = max(len(name) for name, _, _ in self.rows)
        lines = [f"{self.title}: {self.layer}"]
        for name, value, source in self.rows:
            shown = "(not set)" if value is None else value
            lines.append(f"  {name:<{width}}  {shown}  [{source}]")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "settings": {
                name: {"value": value, "source": source} for name, value, source in self.rows
            },
        }

    def source(self, setting: str) -> str:
        """The source of one setting (``KeyError`` for an unknown name)."""
        for name, _, source in self.rows:
            if name == setting:
                return source
        raise KeyError(setting)
