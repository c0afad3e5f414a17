"""What the user has selected, as a small model the views share (napari's selection, without Qt).

The assets panel writes the asset selection; the timeline (which face a new
anchor keyframe uses), the compare view and the asset flows read it and hear
when it changes. Ids of things that no longer exist are dropped with
``keep_only``.
"""

from __future__ import annotations

from typing import Callable, Generic, Hashable, Iterable, TypeVar

T = TypeVar("T", bound=Hashable)


class Selection(Generic[T]):
    """An ordered set of selected ids; the first is the active one."""

    def __init__(self) -> None:
        self._items: tuple[T, ...] = ()
        self._listeners: list[Callable[[], None]] = []

    @property
    def items(self) -> tuple[T, ...]:
        return self._items

    @property
    def active(self) -> T | None:
        return self._items[0] if self._items else None

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)

    def select(self, items: Iterable[T]) -> None:
        """Replace the selection (listeners hear only a real change)."""
        chosen = tuple(dict.fromkeys(items))
        if chosen != self._items:
            self._items = chosen
            for listener in list(self._listeners):
                listener()

    def keep_only(self, existing: Iterable[T]) -> None:
        valid = set(existing)
        self.select(item for item in self._items if item in valid)

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)
