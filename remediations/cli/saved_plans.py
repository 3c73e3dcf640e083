"""Saving a dry run's plan (``--save-plan``) for review and ``plan.apply``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["save_plan_file"]


def save_plan_file(
    path: Path, action: Any, wish: Any, outcome: Any, audit: Any, settings: Any, ticket: str
) -> dict[str, Any]:
    """Write the dry run's plan to ``path`` and log ``plan-saved``; the path and hash."""
    from remediations.audit.plans import make_plan, write_plan
    from remediations.engine import wish_json
    from remediations.plan import Plan

    snapshot = action.snapshot
    plan = outcome.plan or Plan(action=action.name)
    doc = make_plan(
        action=action.name,
        wish=wish_json(wish),
        snapshot=snapshot,
        plan=plan,
        tenant=outcome.tenant,
        transport=outcome.transport,
        made_by=settings.actor,
        made_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        run_id=outcome.run_id,
        ticket=ticket,
    )
    digest = write_plan(path, doc)
    audit.bind(run_id=outcome.run_id, action=action.name, dry_run=True).event(
        "plan-saved", saved_plan=digest, path=str(path), outcome="planned"
    )
    return {"path": str(path), "hash": digest}
