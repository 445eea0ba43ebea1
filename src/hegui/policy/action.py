"""``Action``: what the policy does with a finding. It lives with the policy (which names actions
per risk) and is re-exported by ``hegui.moderation``; keeping it here lets ``hegui.policy`` be
imported on its own without pulling in the engine."""

from __future__ import annotations

from enum import IntEnum


class Action(IntEnum):
    """What the policy does with a finding; ordered so that ``max()`` is the strongest."""

    ALLOW = 0
    FLAG = 1
    MASK = 2
    REFUSE = 3
    BLOCK = 4

    @classmethod
    def parse(cls, value: str | Action) -> Action:
        if isinstance(value, Action):
            return value
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown action {value!r}; expected one of allow, flag, mask, refuse, block"
            ) from None

    def __str__(self) -> str:
        return self.name.lower()
