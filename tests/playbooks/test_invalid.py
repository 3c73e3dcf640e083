"""A broken playbook is refused before anything runs, with a message naming the file,
the step and the key (exit status 2)."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from remediations.cli.playbooks import playbook_validate_task
from remediations.playbooks import PlaybookError, load_playbook
from tests.conftest import CliResult

GOOD = """\
name: broken
description: Let outside senders mail a public folder.
answers:
  codes: ["5.7.1"]
  causes: [public-folder-auth]
parameters:
  folder:
    type: string
    description: the folder
  all_senders:
    type: bool
    description: also clear the list
    default: false
steps:
  - name: Fix the folder
    action: fix-public-folder
    inputs:
      folder: ${folder}
      all_senders: ${all_senders}
"""


def edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


BROKEN: list[tuple[str, str, str]] = [
    ("not-yaml", "name: [broken\n", "not valid YAML (line 2, column 1)"),
    ("key-twice", GOOD + "name: again\n", "the key 'name' is written twice"),
    (
        "python-tag",
        "name: !!python/object/apply:os.system ['echo pwned']\n",
        "not valid YAML (line 1, column 7): could not determine a constructor",
    ),
    ("not-a-mapping", "- a\n- b\n", "a playbook is a mapping with the keys name, description"),
    ("unknown-top-key", GOOD + "stepz: []\n", "unknown key 'stepz'; a playbook has name"),
    ("wrong-name", edit("name: broken", "name: other"), "name the file other.yaml"),
    ("no-description", edit("description: Let", "summary: Let"), "unknown key 'summary'"),
    ("bad-code", edit('["5.7.1"]', '["5.8.1"]'), "answers: code '5.8.1' is not an NDR code"),
    (
        "unknown-cause",
        edit("[public-folder-auth]", "[folder-auth]"),
        "answers: cause 'folder-auth' is not a cause id",
    ),
    (
        "bad-type",
        edit("type: string", "type: text"),
        "parameter 'folder': type 'text' is not a type; use string, address, bool, list.",
    ),
    (
        "bad-default",
        edit("default: false", "default: maybe"),
        "parameter 'all_senders': default 'maybe': give true or false.",
    ),
    (
        "param-no-description",
        edit("    description: the folder\n", ""),
        "parameter 'folder': key 'description' is missing",
    ),
    (
        "param-unknown-key",
        edit("description: the folder", "description: the folder\n    required: true"),
        "parameter 'folder': unknown key 'required'",
    ),
    (
        "unknown-step-key",
        edit("    inputs:", "    input:"),
        "step 1 \"Fix the folder\": unknown key 'input'; a step has name, action, inputs",
    ),
    (
        "unknown-action",
        edit("action: fix-public-folder", "action: fix-everything"),
        "step 1 \"Fix the folder\": key 'action' is 'fix-everything', which is not an action",
    ),
    (
        "unknown-input",
        edit("folder: ${folder}", "foldr: ${folder}"),
        "step 1 \"Fix the folder\": input 'foldr' is not an input of fix-public-folder; "
        "its inputs are all_senders, folder.",
    ),
    (
        "missing-input",
        edit("      folder: ${folder}\n", ""),
        "step 1 \"Fix the folder\": fix-public-folder needs the input 'folder'.",
    ),
    (
        "undefined-reference",
        edit("folder: ${folder}", "folder: ${fodler}"),
        "step 1 \"Fix the folder\": input 'folder': ${fodler} is not defined; "
        "the defined values are ${folder}, ${all_senders}.",
    ),
    (
        "item-outside-for-each",
        edit("folder: ${folder}", "folder: ${item}"),
        "input 'folder': ${item} is only defined in a step with for_each.",
    ),
    (
        "unclosed-reference",
        edit("folder: ${folder}", "folder: x${folder"),
        "input 'folder': 'x${folder' has '${' without a closing '}'.",
    ),
    (
        "mistyped-reference",
        edit("all_senders: ${all_senders}", "all_senders: ${folder}"),
        "input 'all_senders': '${folder}' is a string value; fix-public-folder takes "
        "true or false here.",
    ),
    (
        "bool-in-text",
        edit("folder: ${folder}", "folder: \\Sales\\${all_senders}"),
        "input 'folder': ${all_senders} is a bool parameter and cannot be part of a text",
    ),
    (
        "number-input",
        edit("folder: ${folder}", "folder: 5"),
        "input 'folder': 5 is not a text, true/false or list value (quote it).",
    ),
    (
        "for-each-not-a-list",
        edit("    inputs:", "    for_each: ${folder}\n    inputs:"),
        "step 1 \"Fix the folder\": for_each: '${folder}' is a string; for_each takes a list "
        "parameter.",
    ),
    ("no-steps", GOOD.split("steps:")[0] + "steps: []\n", "key 'steps' must be a list of at least"),
]


@pytest.mark.parametrize(("case", "text", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_broken_playbook_gets_its_own_message(
    case: str, text: str, message: str, tmp_path: Path
) -> None:
    """Loading names the file and says exactly what is wrong."""
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert caught.value.exit_code == 2
    assert message in str(caught.value)
    assert all(str(path) in p or "broken.yaml" in p for p in caught.value.problems)


def test_a_literal_input_outside_the_actions_choices(tmp_path: Path) -> None:
    """A literal value the action does not know is caught without running anything."""
    path = tmp_path / "leaver.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: leaver
            description: Block mail to Jordan.
            answers: {causes: [disabled-account]}
            steps:
              - name: Block
                action: block-delicensed-user
                inputs:
                  user: jordan.lee@contoso.com
                  mode: bounce
            """
        )
    )
    with pytest.raises(PlaybookError, match="input 'mode': 'bounce' is not one of reject, delete"):
        load_playbook(path)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Several mistakes give one message per mistake."""
    path = tmp_path / "broken.yaml"
    path.write_text(edit("type: string", "type: text").replace("action: fix-public", "action: x"))
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert len(caught.value.problems) == 2
    assert str(caught.value).startswith("2 problems:\n  - ")


def test_validate_lists_the_broken_files_and_exits_2(tmp_path: Path) -> None:
    """playbook.validate --path checks each file and reports every problem."""
    good = tmp_path / "broken.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "other.yaml"
    bad.write_text(edit("name: broken", "name: other").replace("${folder}", "${fodler}"))
    out, err = io.StringIO(), io.StringIO()
    code = playbook_validate_task({}, [str(good), str(bad)], out=out, err=err)
    assert code == 2
    assert out.getvalue().splitlines()[0].startswith("ok       ")
    assert out.getvalue().splitlines()[1] == f"invalid  {bad}"
    assert "${fodler} is not defined" in err.getvalue()
    assert "1 of 2 playbooks are invalid." in err.getvalue()


PARAMETER_ERRORS: list[tuple[tuple[str, ...], str]] = [
    ((), "parameter 'folder' is required (the folder); pass --param folder=VALUE."),
    (("folder=\\Sales", "foldr=x"), "--param 'foldr' is not a parameter of broken"),
    (("folder=\\Sales", "all_senders=maybe"), "parameter 'all_senders' is 'maybe'; give true"),
    (("folder",), "--param 'folder' is not KEY=VALUE"),
    (("folder=a", "folder=b"), "parameter 'folder' is given 2 times; it takes one value."),
    (("folder=",), "input 'folder': the value is empty; give the name or address of one object"),
]


@pytest.mark.parametrize(("params", "message"), PARAMETER_ERRORS)
def test_parameter_errors_are_found_before_the_tenant_is_read(
    params: tuple[str, ...],
    message: str,
    tenant_path: Path,
    audit_dir: Path,
    run_pb: Callable[..., CliResult],
    write_playbook: Callable[[str, str], Path],
) -> None:
    """Missing, unknown or mistyped parameters: exit 2, and the tenant is never opened."""
    path = write_playbook("broken", GOOD)
    tenant_path.unlink()  # reading the tenant would now fail with another message
    result = run_pb(str(path), *params)
    assert result.code == 2
    assert message in result.err
    assert "No sandbox tenant" not in result.err
    assert not audit_dir.exists()


def test_a_bad_list_entry_names_the_step_the_item_and_the_key(
    run_pb: Callable[..., CliResult], tenant_path: Path
) -> None:
    """A sender that is not an address, in a for_each list, is found before any read."""
    tenant_path.unlink()
    result = run_pb(
        "restricted-group-outside-sender",
        "group=finance-approvers@contoso.com",
        "senders=partner@fabrikam.com,not-an-address",
    )
    assert result.code == 2
    assert (
        "remediations/playbooks/shipped/restricted-group-outside-sender.yaml: "
        'step 1.2 "Add the sender to the group\'s list (with a mail contact)" '
        "(item 'not-an-address'): input 'sender': "
        "'not-an-address' is not an email address" in result.err
    )


def test_an_unknown_playbook_name_lists_the_known_ones(run_pb: Callable[..., CliResult]) -> None:
    """A misspelt name says which playbooks there are."""
    result = run_pb("leaver-blok-mail", "user=x")
    assert result.code == 2
    assert "no playbook named 'leaver-blok-mail' in remediations/playbooks/shipped" in result.err
    assert "leaver-block-mail" in result.err
