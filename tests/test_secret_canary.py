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
from collections.abc import Callable
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


def _encrypted_certificate(path: Path, password: str, *, rsa_key: bool = True) -> None:
    """A self-signed certificate and its private key, the key encrypted with ``password``."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    key: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if rsa_key
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ndr-remediations test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password.encode()),
    )
    path.write_bytes(pem + cert.public_bytes(serialization.Encoding.PEM))


def test_no_real_target_run_leaks_a_credential(
    invoke_cli: CliRunner,
    tmp_path: Path,
    audit_dir: Path,
    demo_tenant: Callable[[Path], Path],
) -> None:
    """Every credential input for real targets carries the canary; tasks run against loopback
    servers (admin API and Graph; PSRP), signing in and failing to, and the canary is found in
    no audit line, report, saved plan, console output or error text.

    Sign-ins to Microsoft Entra (secret, secret file, certificate with a password) go through
    a proxy to a loopback Entra that refuses them as Entra refuses a wrong secret (at once: an
    unreachable service would be retried for seconds); nothing leaves the machine.
    """
    from remediations.sandbox import SandboxTransport
    from remediations.testing import LoopbackTenant
    from remediations.testing.entra_server import BAD_ASSERTION, BAD_SECRET, LoopbackEntra
    from remediations.testing.psrp_server import LoopbackExchangeServer

    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(CANARY + "\n")
    certificate = tmp_path / "app.pem"
    _encrypted_certificate(certificate, CANARY)
    not_rsa = tmp_path / "ec.pem"
    _encrypted_certificate(not_rsa, CANARY, rsa_key=False)
    cloud_db, onprem_db = demo_tenant(tmp_path / "cloud.db"), demo_tenant(tmp_path / "onprem.db")
    entra = LoopbackEntra(tmp_path)
    env = {
        "NDR_SECRET": CANARY,
        "NDR_CERT_PASSWORD": CANARY,
        "EXO_TOKEN": CANARY,
        "GRAPH_TOKEN": CANARY,
        "EXO_TOKEN_REVOKED": CANARY + "-revoked",
        "NDR_ONPREM_PASSWORD": CANARY,
        "NDR_ONPREM_WRONG": CANARY + "-wrong",
        "INVOKE_ACTOR": "tester",
        # Entra sign-ins: every https request goes to the loopback Entra, never out
        "HTTPS_PROXY": entra.proxy,
        "https_proxy": entra.proxy,
        "REQUESTS_CA_BUNDLE": str(entra.ca_file),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    client = "00000000-0000-0000-0000-000000000000"
    outputs: list[str] = []
    with (
        entra,
        LoopbackTenant(SandboxTransport(cloud_db), token=CANARY) as cloud,
        LoopbackExchangeServer(SandboxTransport(onprem_db), password=CANARY) as onprem,
    ):
        endpoints = {"exchange": cloud.url, "graph": cloud.url}
        tenant = cloud.tenant

        def online(credential: dict[str, Any]) -> dict[str, Any]:
            return {
                "kind": "exchange-online",
                "tenant": tenant,
                "credential": credential,
                "endpoints": endpoints,
            }

        def onprem_target(**login: str) -> dict[str, Any]:
            return {
                "kind": "exchange-onprem",
                "endpoint": onprem.url,
                "auth": "basic",
                "username": "svc-ndr",
                **login,
            }

        targets = {
            "token": online(
                {
                    "kind": "token",
                    "exchange_token_env": "EXO_TOKEN",
                    "graph_token_env": "GRAPH_TOKEN",
                }
            ),
            "revoked": online(
                {
                    "kind": "token",
                    "exchange_token_env": "EXO_TOKEN_REVOKED",
                    "graph_token_env": "EXO_TOKEN_REVOKED",
                }
            ),
            "secret": online({"kind": "secret", "client_id": client, "secret_env": "NDR_SECRET"}),
            "secret-file": online(
                {"kind": "secret", "client_id": client, "secret_file": str(secret_file)}
            ),
            "cert": online(
                {
                    "kind": "certificate",
                    "client_id": client,
                    "certificate_path": str(certificate),
                    "certificate_password_env": "NDR_CERT_PASSWORD",
                }
            ),
            "cert-ec": online(
                {
                    "kind": "certificate",
                    "client_id": client,
                    "certificate_path": str(not_rsa),
                    "certificate_password_env": "NDR_CERT_PASSWORD",
                }
            ),
            "onprem": onprem_target(password_env="NDR_ONPREM_PASSWORD"),
            "onprem-file": onprem_target(password_file=str(secret_file)),
            "onprem-wrong": onprem_target(password_env="NDR_ONPREM_WRONG"),
        }
        config_file = tmp_path / "invoke.yaml"
        config_file.write_text(yaml.safe_dump({"targets": targets}))

        def run(*args: str, target: str) -> InvokeResult:
            done = invoke_cli("-f", str(config_file), *args, env={**env, "INVOKE_TARGET": target})
            outputs.extend([done.stdout, done.stderr])
            assert "Traceback" not in done.stderr, done.stderr
            return done

        allow = ("--recipient", "Finance Approvers", "--sender", "partner@fabrikam.com")
        plans: list[Path] = []
        reports: list[Path] = []
        for name in ("token", "onprem"):
            plan = tmp_path / f"{name}.json"
            plans.append(plan)
            saved = run(
                "add-allowed-sender", *allow, "--dry-run", "--save-plan", str(plan), target=name
            )
            assert saved.returncode == 0, saved.stderr
            assert run("plan.show", str(plan), target=name).returncode == 0
            applied = run("plan.apply", str(plan), "--yes", "--json", target=name)
            assert applied.returncode == 0, applied.stderr
            run_id = json.loads(applied.stdout)["run_id"]
            assert run("plan.apply", str(plan), "--yes", target=name).returncode == 1
            report = tmp_path / f"{name}.html"
            imported = tmp_path / f"{name}-import.yaml"
            reports.append(imported)
            reports.append(report)
            for args in (
                ("target.check",),
                ("sandbox.import", "--output", str(imported)),
                ("playbook.run", "group-rejects-outside-senders", "--param",
                 "group=partners@contoso.com", "--yes"),
                ("audit.report", run_id, "--format", "html", "--output", str(report)),
                ("rollback", run_id, "--yes"),
            ):  # fmt: skip
                done = run(*args, target=name)
                assert done.returncode in (0, 3), (args, done.stderr)  # 3: target.check's gaps
        assert run("fix-public-folder", "--folder", "\\Support\\Escalations", "--dry-run",
                   target="onprem-file").returncode == 0  # fmt: skip
        # failing sign-ins: a revoked token, Entra refusing (a secret from a variable and
        # from a file, a certificate with a password), a wrong on-premises password
        failing = (
            ("revoked", ("target.check",)),
            ("revoked", ("open-to-external", "--recipient", "legal@contoso.com", "--yes")),
            ("secret", ("target.check",)),
            ("secret-file", ("add-allowed-sender", *allow, "--dry-run", "--save-plan",
                             str(tmp_path / "never.json"))),
            ("cert", ("open-to-external", "--recipient", "legal@contoso.com", "--dry-run",
                      "--json")),
            ("onprem-wrong", ("target.check",)),
            ("onprem-wrong", ("fix-public-folder", "--folder", "\\Support\\Escalations",
                              "--yes")),
        )  # fmt: skip
        for name, args in failing:
            done = run(*args, target=name)
            assert done.returncode in (1, 3), (name, args, done.stdout, done.stderr)
            assert (done.stdout + done.stderr).strip(), (name, args)
        assert not (tmp_path / "never.json").exists()
        # a certificate azure-identity cannot use is bad input in one sentence, not a traceback
        unusable = run("target.check", target="cert-ec")
        assert unusable.returncode == 2, unusable.stdout
        assert "cannot be used" in unusable.stderr
        assert run("audit.runs", target="token").returncode == 0
        assert run("audit.verify", target="token").returncode == 0
        sign_ins = " ".join(outputs)
        assert "Signing in for" in sign_ins  # the Entra sign-ins were tried, and failed
        assert BAD_SECRET in sign_ins
        assert BAD_ASSERTION in sign_ins
        # the secrets were read and sent where they belong, to Entra, and only there
        tokens = [r.form for r in entra.requests if r.method == "POST"]
        secrets = [f["client_secret"] for f in tokens if "client_secret" in f]
        assert secrets
        assert all(sent == [CANARY] for sent in secrets)
        assert any("client_assertion" in f for f in tokens)

    written = [(audit_dir / "audit.jsonl").read_text()]
    written += [p.read_text() for p in (*plans, *reports)]
    assert len(written[0].splitlines()) > 100
    for text in outputs + written:
        assert CANARY not in text
