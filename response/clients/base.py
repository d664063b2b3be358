"""What every action client answers (response.clients)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.http import ConnectorClient

    from ..models import ResponseAction


@dataclass
class Outcome:
    ok: bool
    message: str
    data: dict[str, Any] = field(default_factory=dict)


ActionHook = Callable[["ConnectorClient", "ResponseAction"], Outcome]
