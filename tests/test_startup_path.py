"""What a sandbox dry run of one fix imports: the modules of its path, nothing more.

Every module a process imports from source is compiled in that process
(``benchmarks/startup.py``), so the cold start of a fix grows with each module on
its path.  The directory, DNS, tenant files, playbooks and diagnosis are other
tasks' (or other actions') business: a fix of one public folder imports none.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_cli import imported_modules

# modules only other tasks or other actions need (a prefix names a package and its modules)
OFF_THE_PATH = (
    "remediations.directory",
    "remediations.dns_lookup",
    "remediations.diagnose",
    "remediations.playbooks",
    "remediations.fleet",
    "remediations.sandbox.tenant_file",
    "remediations.sandbox.tenant_sections",
    "remediations.sandbox.importer",
    "remediations.sandbox.generate",
    "remediations.sandbox.planning",
    "remediations.sandbox.mailflow",
)


@pytest.mark.subprocess
def test_a_sandbox_dry_run_imports_only_its_path(tenant_path: Path, audit_dir: Path) -> None:
    """fix-public-folder --dry-run on the sandbox: no directory, DNS, tenant-file, playbook
    or diagnosis module is imported (each would be compiled on every cold start)."""
    env = {
        **os.environ,
        "INVOKE_SANDBOX_PATH": str(tenant_path),
        "INVOKE_AUDIT_DIR": str(audit_dir),
    }
    args = ["fix-public-folder", "--folder", "\\Support\\Escalations", "--dry-run"]
    loaded = imported_modules(args, env, full=True)
    assert "remediations.engine" in loaded  # the run did happen
    assert sorted(m for m in loaded if m.startswith(OFF_THE_PATH)) == []
