"""Saving a dry run's plan (``--save-plan``) for review and ``plan.apply``: a single
action's, or a whole playbook's (every step's changes, what each step read)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["save_plan_file", "save_playbook_plan", "with_step_actions"]


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


def with_step_actions(bound: Any, make: Any) -> Any:
    """The bound playbook with each step running ``make(step)`` instead of its action."""
    from dataclasses import dataclass

    from remediations.playbooks.binding import BoundPlaybook, BoundStep

    @dataclass(frozen=True, slots=True, kw_only=True)
    class _Step(BoundStep):
        runs: Any

        @property
        def action(self) -> Any:
            return self.runs

    steps = tuple(
        _Step(id=s.id, step=s.step, item=s.item, inputs=s.inputs, wish=s.wish, runs=make(s))
        for s in bound.steps
    )
    return BoundPlaybook(playbook=bound.playbook, parameters=bound.parameters, steps=steps)


def save_playbook_plan(
    path: str, outcome: Any, recorders: dict[str, Any], audit: Any, actor: str, ticket: str
) -> dict[str, Any]:
    """Write a playbook dry run's whole plan to ``path``; log ``plan-saved``; path and hash."""
    from remediations.audit.plans import make_playbook_plan, write_plan

    doc = make_playbook_plan(
        outcome=outcome,
        read={step: rec.snapshot for step, rec in recorders.items()},
        made_by=actor,
        made_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        ticket=ticket,
    )
    digest = write_plan(Path(path), doc)
    audit.bind(
        run_id=outcome.run_id,
        playbook=outcome.playbook,
        playbook_version=outcome.version,
        dry_run=True,
    ).event("plan-saved", saved_plan=digest, path=str(path), outcome="planned")
    return {"path": str(path), "hash": digest}
