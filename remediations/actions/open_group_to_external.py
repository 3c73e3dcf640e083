"""Open a group to outside senders (NDR 5.7.133, 5.7.193): ``open-to-external`` for groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from remediations.actions.open_to_external import OpenToExternal
from remediations.actions.recipients import check_identity


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """``group``: a distribution group or a Microsoft 365 group; None for every group
    that rejects outside senders."""

    all_targets_field: ClassVar[str] = "group"

    group: str | None = None

    def __post_init__(self) -> None:
        if self.group is not None:
            check_identity(self.group, "--group", "partners@contoso.com")

    @property
    def all_targets(self) -> bool:
        """Whether the wish names no group: every group with the cause."""
        return self.group is None


class OpenGroupToExternal(OpenToExternal):
    """Stop requiring sender authentication on a distribution or Microsoft 365 group."""

    name: ClassVar[str] = "open-group-to-external"
    summary: ClassVar[str] = (
        "Let outside senders mail a group (5.7.133, 5.7.193, 5.7.1 AuthRequired to a group)."
    )
    wish_type: ClassVar[type[Any]] = Wish
    flag: ClassVar[str] = "--group"
    kinds: ClassVar[tuple[str, ...]] = ("distribution group", "Microsoft 365 group")
    accepted: ClassVar[str] = "distribution groups and Microsoft 365 groups"

    def identity(self, wish: Any) -> str | None:
        """The group the wish names (None: every group with the cause)."""
        return None if wish.group is None else str(wish.group)
