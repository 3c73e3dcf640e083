"""A canary secret in every credential input never reaches a log line, report, plan or console.

The canary sits in every environment variable and file the toolkit reads
secrets from (target credential settings: secrets, certificate and account
passwords, ready tokens; the audit key file), and in the variables azure-identity
reads by itself.  Then every task runs through the ``invoke`` command line
(in-process, as Invoke's own program runs it), and the canary must appear nowhere
it wrote or printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from remediations.testing import CliRunner, InvokeResult

CANARY = "CANARY-7f3a91-do-not-log"
EML = Path(__file__).parent / "diagnose" / "samples" / "eml" / "exo-5.7.1-not-authorized.eml"


def test_no_task_leaks_a_credential(
    invoke_cli: CliRunner,
    tmp_path: Path,
    audit_dir: Path,
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(CANARY + "\n")
    key_file = tmp_path / "audit.key"
    key_file.write_text(CANARY + "\n")
    names = {
        "secret": "NDR_SECRET",
        "cert": "NDR_CERT_PASSWORD",
        "exo": "EXO_TOKEN",
        "graph": "GRAPH_TOKEN",
        "onprem": "NDR_ONPREM_PASSWORD",
    }
    env = {
        **dict.fromkeys(names.values(), CANARY),
        "AZURE_CLIENT_SECRET": CANARY,
        "AZURE_CLIENT_CERTIFICATE_PASSWORD": CANARY,
        "AZURE_PASSWORD": CANARY,
        "INVOKE_AUDIT_KEY_FILE": str(key_file),
        "INVOKE_ACTOR": "tester",
    }
    config: dict[str, Any] = {
        "targets": {
            "cloud-secret": {
                "kind": "exchange-online",
                "tenant": "contoso.onmicrosoft.com",
                "credential": {
                    "kind": "secret",
                    "client_id": "00000000-0000-0000-0000-000000000000",
                    "secret_env": names["secret"],
                },
            },
            "cloud-secret-file": {
                "kind": "exchange-online",
                "tenant": "contoso.onmicrosoft.com",
                "credential": {
                    "kind": "secret",
                    "client_id": "00000000-0000-0000-0000-000000000000",
                    "secret_file": str(secret_file),
                },
            },
            "cloud-cert": {
                "kind": "exchange-online",
                "tenant": "contoso.onmicrosoft.com",
                "credential": {
                    "kind": "certificate",
                    "client_id": "00000000-0000-0000-0000-000000000000",
                    "certificate_path": str(secret_file),
                    "certificate_password_env": names["cert"],
                },
            },
            "cloud-token": {
                "kind": "exchange-online",
                "tenant": "contoso.onmicrosoft.com",
                "credential": {
                    "kind": "token",
                    "exchange_token_env": names["exo"],
                    "graph_token_env": names["graph"],
                },
            },
            "onprem": {
                "kind": "exchange-onprem",
                "server": "mail.contoso.com",
                "auth": "negotiate",
                "username": "svc-ndr",
                "password_env": names["onprem"],
                "password_file": str(secret_file),
            },
        }
    }
    config_file = tmp_path / "invoke.yaml"
    config_file.write_text(yaml.safe_dump(config))
    plan = tmp_path / "plan.json"
    report = tmp_path / "report.html"
    imported = tmp_path / "imported.yaml"
    outputs: list[str] = []

    def run(*args: str, target: str = "") -> InvokeResult:
        more = {"INVOKE_TARGET": target} if target else {}
        done = invoke_cli("-f", str(config_file), *args, env={**env, **more})
        outputs.extend([done.stdout, done.stderr])
        assert "Traceback" not in done.stderr, done.stderr
        return done

    allow = ("--recipient", "Finance Approvers", "--sender", "partner@fabrikam.com")
    assert run("add-allowed-sender", *allow, "--dry-run", "--save-plan", str(plan)).returncode == 0
    assert run("plan.show", str(plan)).returncode == 0
    applied = run("plan.apply", str(plan), "--json")
    assert applied.returncode == 0, applied.stderr
    run_id = json.loads(applied.stdout)["run_id"]
    for args in (
        ("fix-public-folder", "--folder", "\\Support\\Escalations"),
        ("open-to-external", "--recipient", "legal@contoso.com"),
        ("open-group-to-external", "--group", "partners@contoso.com"),
        ("bypass-moderation", "--group", "All Staff", "--sender", "alex.kim@contoso.com"),
        ("block-delicensed-user", "--user", "Jordan Lee"),
        ("remove-license", "--user", "Jordan Lee", "--json"),
        ("diagnose", "--ndr", str(EML), "--check"),
        ("scan",),
        ("playbook.list",),
        ("playbook.run", "group-rejects-outside-senders", "--param", "group=All Staff"),
        ("sandbox.show", "--identity", "All Staff"),
        ("sandbox.import", "--output", str(imported)),
        ("audit.runs",),
        ("audit.show", run_id),
        ("audit.report", run_id, "--format", "html", "--output", str(report)),
        ("audit.report", run_id),
        ("rollback", run_id, "--dry-run"),
        ("rollback", run_id),
        ("audit.verify", "--json"),
        ("--list",),
    ):
        run(*args)
    verify = run("audit.verify")
    assert verify.returncode == 0, verify.stderr
    assert "every HMAC matches the key" in verify.stdout  # the key file was read and used
    written = [
        (audit_dir / "audit.jsonl").read_text(),
        plan.read_text(),
        report.read_text(),
        imported.read_text(),
    ]
    assert len(written[0].splitlines()) > 50
    for text in outputs + written:
        assert CANARY not in text
