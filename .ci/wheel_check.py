"""From a regular (non-editable) install: every shipped playbook is found and runs on a sandbox.

Run by ``.ci/run`` with the interpreter of a venv that installed the project's wheel, from a
folder outside the checkout, so nothing can be found beside the source tree.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from remediations.cli.playbooks import playbook_run_task
from remediations.playbooks import SHIPPED_DIR, playbook_files
from remediations.sandbox import reset_sandbox

RUNS = {
    "public-folder-external-sender": ["folder=\\Support\\Escalations"],
    "restricted-group-outside-sender": [
        "group=finance-approvers@contoso.com",
        "senders=partner@fabrikam.com",
    ],
    "group-rejects-outside-senders": ["group=partners@contoso.com"],
    "large-group-sender": ["group=All Staff", "senders=alex.kim@contoso.com"],
    "leaver-block-mail": ["user=jordan.lee@contoso.com"],
}


def main() -> int:
    """Run every shipped playbook, dry and then for real, on a fresh demo tenant."""
    assert "site-packages" in str(SHIPPED_DIR), SHIPPED_DIR
    names = {p.stem for p in playbook_files(SHIPPED_DIR)}
    assert names == set(RUNS), names
    with tempfile.TemporaryDirectory() as tmp:
        tenant = Path(tmp) / "tenant.db"
        reset_sandbox(tenant)
        config = {"sandbox": {"path": str(tenant)}, "audit": {"dir": str(Path(tmp) / "audit")}}
        for name, params in RUNS.items():
            for dry_run in (True, False):
                code = playbook_run_task(
                    config, name, params, dry_run=dry_run, as_json=True, ticket="", yes=True
                )
                if code:
                    print(f"{name} (dry_run={dry_run}) exited {code}", file=sys.stderr)
                    return 1
    print(f"wheel install: {len(RUNS)} shipped playbooks found and run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
