"""The playbook format: references, typed parameters, for_each, and names or paths."""

from __future__ import annotations

import io
import json
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import remediations.playbooks as playbooks
from remediations.cli.playbooks import playbook_list_task, playbook_show_task
from remediations.playbooks import bind, bind_parameters, find_playbook, parse_param_args
from remediations.playbooks.schema import Ref, split_references
from tests.conftest import CliResult

LOOP = """\
    name: loop
    description: Open several groups.
    answers: {causes: [group-auth]}
    parameters:
      groups:
        type: list
        description: the groups
      prefix:
        type: string
        description: a folder prefix
        default: Support
      team:
        type: string
        description: a group's alias
        default: falcon
    steps:
      - name: Open the group
        action: open-group-to-external
        for_each: ${groups}
        inputs:
          group: ${item}
      - name: Fix the folder
        action: fix-public-folder
        inputs:
          folder: \\${prefix}\\Escalations
      - name: Fix a literal list
        action: open-group-to-external
        for_each:
          - partners@contoso.com
          - ${team}@contoso.com
        inputs:
          group: ${item}
"""


class TestReferences:
    """``${name}`` is a reference; ``$${`` a literal ``${``."""

    @pytest.mark.parametrize(
        ("text", "parts"),
        [
            ("plain", ["plain"]),
            ("${group}", [Ref("group")]),
            ("Mail for ${user}.", ["Mail for ", Ref("user"), "."]),
            ("${a}${b}", [Ref("a"), Ref("b")]),
            ("cost $5", ["cost $5"]),
            ("$${literal}", ["${literal}"]),
        ],
    )
    def test_split(self, text: str, parts: list[Any]) -> None:
        """Texts split into literal parts and references."""
        assert split_references(text) == parts

    @pytest.mark.parametrize("text", ["${", "x ${open", "${Upper}", "${a-b}", "${}"])
    def test_malformed(self, text: str) -> None:
        """A malformed reference is an error, never silently literal."""
        with pytest.raises(ValueError, match=r"reference|closing"):
            split_references(text)


class TestParameters:
    """Command-line text becomes typed values; defaults fill the gaps."""

    def test_param_flags_collect_repeats(self) -> None:
        """--param given twice collects both values; '=' in a value is kept."""
        assert parse_param_args(["a=1", "b=x=y", "a=2"]) == {"a": ["1", "2"], "b": "x=y"}

    def test_types(self, write_playbook: Callable[[str, str], Path]) -> None:
        """Lists split on commas (and join over repeats); bools read true/yes/false/no."""
        playbook = find_playbook(str(write_playbook("loop", LOOP)))
        values = bind_parameters(playbook, {"groups": ["a@x.com, b@x.com", "c@x.com"]})
        assert values == {
            "groups": ("a@x.com", "b@x.com", "c@x.com"),
            "prefix": "Support",
            "team": "falcon",
        }

    @pytest.mark.parametrize(
        ("text", "value"), [("true", True), ("Yes", True), ("false", False), ("no", False)]
    )
    def test_bool(self, text: str, value: bool) -> None:
        """A bool parameter accepts the usual words."""
        playbook = find_playbook("public-folder-external-sender")
        bound = bind_parameters(playbook, {"folder": "\\Sales", "all_senders": text})
        assert bound["all_senders"] is value

    def test_address(self, write_playbook: Callable[[str, str], Path]) -> None:
        """An address parameter must be an email address."""
        path = write_playbook(
            "addr",
            """\
            name: addr
            description: Bypass.
            answers: {causes: [large-group-moderation]}
            parameters:
              sender: {type: address, description: the sender}
            steps:
              - name: Bypass
                action: bypass-moderation
                inputs: {group: allstaff@contoso.com, sender: "${sender}"}
            """,
        )
        with pytest.raises(playbooks.PlaybookError, match="give an email address like"):
            bind_parameters(find_playbook(str(path)), {"sender": "nobody"})


def test_for_each_expands_and_references_resolve(
    write_playbook: Callable[[str, str], Path],
) -> None:
    """A list parameter or a literal list gives one step per entry; text interpolates."""
    playbook = find_playbook(str(write_playbook("loop", LOOP)))
    bound = bind(playbook, {"groups": "partners@contoso.com,falcon@contoso.com"})
    assert [(s.id, s.item) for s in bound.steps] == [
        ("1.1", "partners@contoso.com"),
        ("1.2", "falcon@contoso.com"),
        ("2", None),
        ("3.1", "partners@contoso.com"),
        ("3.2", "falcon@contoso.com"),
    ]
    assert bound.steps[1].wish.group == "falcon@contoso.com"
    assert bound.steps[2].wish.folder == "\\Support\\Escalations"


def test_an_empty_list_runs_no_step(
    write_playbook: Callable[[str, str], Path], run_pb: Callable[..., CliResult]
) -> None:
    """for_each over an empty list plans nothing for that step."""
    path = write_playbook("loop", LOOP)
    result = run_pb(str(path), "groups=", dry_run=True, as_json=True)
    assert result.code == 0, result.err
    assert [s["step"] for s in result.json()["steps"]] == ["2", "3.1", "3.2"]


def test_yaml_is_data_never_code(tmp_path: Path) -> None:
    """A Python tag is refused by the safe loader; nothing is executed."""
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(playbooks.PlaybookError):
        find_playbook(str(path))
    assert not marker.exists()


def test_a_path_works_wherever_a_name_does(
    write_playbook: Callable[[str, str], Path], run_pb: Callable[..., CliResult]
) -> None:
    """show, validate and run take a file path as well as a name."""
    path = write_playbook("loop", LOOP)
    out = io.StringIO()
    assert playbook_show_task({}, str(path), out=out) == 0
    assert "loop  (" in out.getvalue()
    assert run_pb(str(path), "groups=partners@contoso.com").code == 0


def test_a_playbooks_folder_can_be_configured(
    write_playbook: Callable[[str, str], Path],
) -> None:
    """playbooks.dir (INVOKE_PLAYBOOKS_DIR) replaces the shipped folder."""
    path = write_playbook("loop", LOOP)
    out = io.StringIO()
    assert playbook_list_task({"playbooks": {"dir": str(path.parent)}}, as_json=True, out=out) == 0
    assert [p["name"] for p in json.loads(out.getvalue())] == ["loop"]


def test_show_prints_parameters_and_steps() -> None:
    """A reviewer reads what a playbook takes and does."""
    out = io.StringIO()
    assert playbook_show_task({}, "leaver-block-mail", out=out) == 0
    text = out.getvalue()
    assert "user (string, required): the user who left" in text
    assert "mode (string, default reject, one of reject, delete)" in text
    assert "1. Remove the licenses that remain\n     remove-license:\n       user: ${user}" in text
    assert "Try: invoke playbook.run leaver-block-mail --param user=VALUE --dry-run" in text


def test_list_shows_name_description_and_causes() -> None:
    """playbook.list: one block per playbook."""
    out = io.StringIO()
    assert playbook_list_task({}, out=out) == 0
    text = out.getvalue()
    assert "leaver-block-mail\n    A user left" in text
    assert "answers 5.7.129 (causes: disabled-account)" in text


def test_package_exports() -> None:
    """__all__ names exactly the package's public values."""
    public = {
        name
        for name, value in vars(playbooks).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert set(playbooks.__all__) == public
