"""diagnose --check reads the tenant to settle and confirm a diagnosis; bad input exits 2."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from remediations.cli.diagnose import diagnose_task
from remediations.exchange.cmdlet import Cmdlet
from remediations.ndr.build import RejectedRecipient, build_ndr
from remediations.ndr.codes import SANDBOX_REJECTIONS
from tests.conftest import tenant_doc


def ndr_file(tmp_path: Path, recipient: str, key: str = "public-folder-auth") -> Path:
    original = EmailMessage()
    original["From"] = "partner@fabrikam.com"
    original["To"] = recipient
    original["Subject"] = "Hello"
    original.set_content("hi")
    message = build_ndr(
        reporting_mta="am7pr01mb4321.eurprd01.prod.outlook.com",
        postmaster="postmaster@contoso.com",
        sender="partner@fabrikam.com",
        recipients=[RejectedRecipient.from_rejection(recipient, SANDBOX_REJECTIONS[key])],
        original=original,
        arrival=datetime(2026, 11, 27, tzinfo=UTC),
    )
    path = tmp_path / "bounce.eml"
    path.write_bytes(message.as_bytes())
    return path


def run(config: dict[str, Any], ndr: str, stdin: str = "", **flags: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = diagnose_task(config, ndr, out=out, err=err, stdin=io.StringIO(stdin), **flags)
    return code, out.getvalue(), err.getvalue()


def test_check_settles_auth_required_for_a_group(config: dict[str, Any], tmp_path: Path) -> None:
    """5.7.1 AuthRequired alone reads as a public folder; the tenant says it is a group."""
    path = str(ndr_file(tmp_path, "partners@contoso.com"))
    _, plain, _ = run(config, path, as_json=True)
    assert json.loads(plain)["cause"] == "public-folder-auth"
    code, out, _ = run(config, path, as_json=True, check=True)
    doc = json.loads(out)
    assert code == 0
    assert (doc["cause"], doc["confidence"]) == ("group-auth", "high")
    assert doc["fix"]["command"] == "invoke open-group-to-external --group partners@contoso.com"
    assert doc["check"]["confirmed"] is True


def test_check_says_when_the_recipient_is_not_in_this_tenant(
    config: dict[str, Any], tmp_path: Path
) -> None:
    """A bounce from another organisation is not confirmed, and --fix changes nothing."""
    tenant = Path(config["sandbox"]["path"])
    before = tenant_doc(tenant)
    path = str(ndr_file(tmp_path, "someone@tailspintoys.com"))
    code, out, _ = run(config, path, as_json=True, check=True, fix=True)
    doc = json.loads(out)
    assert code == 0
    assert doc["check"]["confirmed"] is False
    assert doc["fix_runs"] == []
    assert tenant_doc(tenant) == before


@pytest.mark.parametrize(
    ("ndr", "stdin", "message"),
    [
        (None, "", "--ndr is required"),
        ("missing.eml", "", "no such file"),
        ("-", "", "--ndr '-'"),
        ("-", "Hello, lunch at noon?", "--ndr '-'"),
    ],
    ids=["no-flag", "no-file", "empty-stdin", "not-an-ndr"],
)
def test_bad_input_exits_2(
    config: dict[str, Any], ndr: str | None, stdin: str, message: str
) -> None:
    """A clear sentence and exit 2."""
    code, out, err = run(config, ndr, stdin)  # type: ignore[arg-type]
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    assert out == ""


def test_reads_a_single_line_from_standard_input(config: dict[str, Any]) -> None:
    """Pasting one diagnostic line works."""
    code, out, _ = run(config, "-", "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized\n")
    assert code == 0
    assert "restricted-recipient" in out


# --- --check runs the mail-flow model on the planned state of the fix -------------------


def bounce(config: dict[str, Any], sender: str, recipient: str) -> str:
    """Send a test message through the sandbox; return the path of the NDR it bounced with."""
    from remediations.cli.sandbox import sandbox_send_task

    out = io.StringIO()
    assert sandbox_send_task(config, sender=sender, recipient=recipient, as_json=True, out=out) == 0
    doc = json.loads(out.getvalue())
    assert doc["outcome"] == "rejected", doc
    return str(doc["ndr"])


def checked(config: dict[str, Any], path: str, **flags: Any) -> dict[str, Any]:
    code, out, err = run(config, path, as_json=True, check=True, **flags)
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def setup(config: dict[str, Any], *cmdlets: Cmdlet) -> None:
    from remediations.sandbox import SandboxTransport

    transport = SandboxTransport(Path(config["sandbox"]["path"]))
    for cmdlet in cmdlets:
        transport.send(cmdlet)


def test_several_restrictions_get_the_fix_that_lets_this_sender_through(
    config: dict[str, Any],
) -> None:
    """finance-approvers from outside: 5.7.133 first, the accept list behind it; opening the
    group alone would bounce 5.7.124 next, so --check recommends add-allowed-sender (which
    also lifts the authentication requirement) and the restricted-group playbook."""
    tenant = Path(config["sandbox"]["path"])
    before = tenant_doc(tenant)
    path = bounce(config, "partner@fabrikam.com", "finance-approvers@contoso.com")
    doc = checked(config, path)
    assert tenant_doc(tenant) == before  # planned on a copy, nothing written
    assert doc["status"] == "5.7.133"
    assert doc["fix"]["command"] == (
        "invoke add-allowed-sender --recipient finance-approvers@contoso.com"
        " --sender partner@fabrikam.com"
    )
    assert doc["check"]["confirmed"] is True
    assert doc["check"]["after"].startswith("delivered")
    assert doc["playbooks"] == [
        "invoke playbook.run restricted-group-outside-sender "
        "--param group=finance-approvers@contoso.com --param senders=partner@fabrikam.com"
    ]
    fixed = checked(config, path, fix=True, yes=True)
    (resent,) = fixed["resent"]
    assert resent["outcome"] == "delivered"


def test_a_hold_behind_a_rejection_gets_both_fixes(config: dict[str, Any]) -> None:
    """All Staff from outside: opening it would leave the message held for moderation; the
    fixes that deliver are the open, then the bypass."""
    path = bounce(config, "partner@fabrikam.com", "allstaff@contoso.com")
    doc = checked(config, path)
    assert doc["check"]["confirmed"] is True
    assert doc["check"]["fixes"] == [
        "invoke open-group-to-external --group allstaff@contoso.com",
        "invoke bypass-moderation --group allstaff@contoso.com --sender partner@fabrikam.com",
    ]
    fixed = checked(config, path, fix=True, yes=True)
    assert [run["outcome"] for run in fixed["fix_runs"]] == ["applied", "applied"]
    assert fixed["resent"][0]["outcome"] == "delivered"


def test_microsoft_365_group_bounces_5_7_193_and_is_opened(config: dict[str, Any]) -> None:
    """The sandbox answers 5.7.193 UnifiedGroupAgent for a Microsoft 365 group."""
    path = bounce(config, "partner@fabrikam.com", "falcon@contoso.com")
    assert "5.7.193 UnifiedGroupAgent" in Path(path).read_text()
    doc = checked(config, path)
    assert (doc["status"], doc["cause"]) == ("5.7.193", "group-auth")
    assert doc["fix"]["command"] == "invoke open-group-to-external --group falcon@contoso.com"
    assert doc["check"]["confirmed"] is True


def test_check_names_the_rule_that_rejects(config: dict[str, Any]) -> None:
    """Board: the rule is found by SentTo/scope/state, not by the NDR's text."""
    path = bounce(config, "partner@fabrikam.com", "board@contoso.com")
    doc = checked(config, path)
    assert doc["cause"] == "transport-rule"
    assert doc["check"]["rules"] == ["Board accepts no external mail"]
    assert doc["check"]["confirmed"] is True
    assert "'Board accepts no external mail'" in doc["check"]["evidence"]
    assert doc["automatable"] is False


def test_check_finds_a_rule_that_rejects_with_the_generic_text(
    config: dict[str, Any],
) -> None:
    """A rule with only a text rejects with 5.7.1 TRANSPORT.RULES.RejectMessage; its text is
    in the human part, and --check still names it."""
    setup(
        config,
        Cmdlet.of(
            "New-TransportRule",
            Name="No outside mail to Partners",
            SentTo=("partners@contoso.com",),
            FromScope="NotInOrganization",
            RejectMessageReasonText="Partners is closed this week.",
        ),
    )
    from email import message_from_bytes, policy

    from remediations.diagnose import parse_ndr

    path = bounce(config, "partner@fabrikam.com", "partners@contoso.com")
    (failure,) = parse_ndr(Path(path).read_bytes()).failures
    assert failure.reply == (
        "550 5.7.1 TRANSPORT.RULES.RejectMessage; the message was rejected by organization policy"
    )
    message = message_from_bytes(Path(path).read_bytes(), policy=policy.default)
    human = message.get_body(preferencelist=("plain",))
    assert human is not None
    assert "Partners is closed this week." in human.get_content()
    doc = checked(config, path)
    assert doc["cause"] == "transport-rule"
    assert doc["check"]["rules"] == ["No outside mail to Partners"]


def test_the_leaver_rule_is_recognised(config: dict[str, Any], run_task: Any) -> None:
    """After block-delicensed-user, the bounce names the toolkit's own leaver rule."""
    assert run_task("block-delicensed-user", {"user": "jordan.lee@contoso.com"}).code == 0
    path = bounce(config, "partner@fabrikam.com", "jordan.lee@contoso.com")
    plain = checked(config, path)
    assert (plain["cause"], plain["confidence"]) == ("transport-rule", "high")
    assert plain["check"]["rules"] == ["Block mail to leaver jordan.lee@contoso.com"]
    assert "the toolkit's leaver rule" in plain["check"]["evidence"]


def test_check_reads_dl_members_lists(config: dict[str, Any]) -> None:
    """A restriction held in AcceptMessagesOnlyFromDLMembers: a member of the listed group
    is delivered, anyone else bounces 5.7.124, and --check reads the list (no
    'AcceptMessagesOnlyFrom is (empty)')."""
    from datetime import UTC, datetime

    from remediations.sandbox import SandboxTransport
    from remediations.sandbox.mailflow import send

    setup(
        config,
        Cmdlet.of(
            "Set-DistributionGroup",
            Identity="partners@contoso.com",
            AcceptMessagesOnlyFromDLMembers=("finance-approvers@contoso.com",),
            BypassSecurityGroupManagerCheck=True,
        ),
    )
    state = SandboxTransport(Path(config["sandbox"]["path"])).state
    member = send(
        state,
        sender="alex.kim@contoso.com",
        recipient="partners@contoso.com",
        arrival=datetime(2026, 11, 30, tzinfo=UTC),
    )
    assert member.outcome == "delivered"
    path = bounce(config, "sam.rivera@contoso.com", "partners@contoso.com")
    doc = checked(config, path)
    assert doc["status"] == "5.7.124"
    assert doc["cause"] == "restricted-recipient"
    assert "(empty)" not in doc["check"]["evidence"]
    assert "not on the accept list" in doc["check"]["now"]
    assert doc["check"]["confirmed"] is True
    assert doc["fix"]["command"] == (
        "invoke add-allowed-sender --recipient partners@contoso.com --sender sam.rivera@contoso.com"
    )


def test_a_restricted_public_folder_is_not_offered_a_group_playbook(
    config: dict[str, Any],
) -> None:
    """The restricted-group playbook's step 2 (open-group-to-external) cannot plan for a
    folder: --check does not offer it; add-allowed-sender is the fix."""
    setup(
        config,
        Cmdlet.of(
            "Set-MailPublicFolder",
            Identity="\\Support\\Escalations",
            AcceptMessagesOnlyFrom=("cfo@contoso.com",),
        ),
    )
    path = bounce(config, "sam.rivera@contoso.com", "escalations@contoso.com")
    plain_code, plain_out, _ = run(config, path, as_json=True)
    assert plain_code == 0
    assert json.loads(plain_out)["playbooks"]  # without reading the tenant it is offered
    doc = checked(config, path)
    assert doc["cause"] == "restricted-recipient"
    assert doc["playbooks"] == []
    assert doc["check"]["confirmed"] is True
    assert doc["fix"]["command"] == (
        "invoke add-allowed-sender --recipient escalations@contoso.com"
        " --sender sam.rivera@contoso.com"
    )
