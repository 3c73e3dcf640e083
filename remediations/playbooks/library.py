"""Finding playbooks: by name in a folder (the shipped ones, package data), or by file path."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from remediations.playbooks.schema import Playbook, PlaybookError, display_path, load_playbook

__all__ = [
    "SHIPPED_DIR",
    "find_playbook",
    "list_playbooks",
    "playbook_files",
    "playbooks_for",
    "run_command",
    "suggest_runs",
]

#: The shipped playbooks: package data, so an installed wheel has them as an editable install does.
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"

_SUFFIXES = (".yaml", ".yml")


def playbook_files(directory: Path) -> list[Path]:
    """The playbook files of a folder, sorted by name."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in _SUFFIXES and p.is_file())


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.endswith(_SUFFIXES)


def find_playbook(name: str, directory: Path = SHIPPED_DIR) -> Playbook:
    """Load the playbook called ``name`` in ``directory``, or the file ``name`` is a path to.

    Raises:
        PlaybookError: no such playbook, or it is not a valid playbook.
    """
    if _looks_like_path(name):
        return load_playbook(Path(name))
    for suffix in _SUFFIXES:
        path = directory / f"{name}{suffix}"
        if path.is_file():
            return load_playbook(path)
    if Path(name).is_file():
        return load_playbook(Path(name))
    known = [p.stem for p in playbook_files(directory)]
    listing = f"the playbooks are {', '.join(known)}" if known else "it holds no playbooks"
    raise PlaybookError(
        [
            f"no playbook named {name!r} in {display_path(directory)}; {listing} "
            "('invoke playbook.list'), or give the path of a playbook file."
        ]
    )


def list_playbooks(directory: Path = SHIPPED_DIR) -> list[tuple[Path, Playbook | PlaybookError]]:
    """Every playbook of a folder, loaded, or the error that stops it loading."""
    out: list[tuple[Path, Playbook | PlaybookError]] = []
    for path in playbook_files(directory):
        try:
            out.append((path, load_playbook(path)))
        except PlaybookError as exc:
            out.append((path, exc))
    return out


def playbooks_for(cause: str, directory: Path = SHIPPED_DIR) -> list[str]:
    """The names of the (valid) playbooks that answer a cause id, for ``diagnose``."""
    return [
        found.name
        for _, found in list_playbooks(directory)
        if isinstance(found, Playbook) and cause in found.causes
    ]


# Which value of a bounce fills a playbook parameter of this name.
_FROM_NDR = {
    "folder": "recipient",
    "group": "recipient",
    "user": "recipient",
    "recipient": "recipient",
    "sender": "sender",
    "senders": "sender",
}


def suggest_runs(
    cause: str, *, recipient: str | None, sender: str | None, directory: Path = SHIPPED_DIR
) -> list[str]:
    """``invoke playbook.run`` command lines for the playbooks that answer ``cause``.

    Required parameters are filled from the bounce where their name says which
    value they take (folder, group, user, recipient: the recipient; sender,
    senders: the sender); one that cannot be filled stays an upper-case placeholder.
    """
    return [
        run_command(
            found.name,
            [p.name for p in found.parameters if p.required],
            recipient=recipient,
            sender=sender,
        )
        for _, found in list_playbooks(directory)
        if isinstance(found, Playbook) and cause in found.causes
    ]


def run_command(
    name: str, required: Iterable[str], *, recipient: str | None, sender: str | None
) -> str:
    """The ``invoke playbook.run`` line for a playbook, its required parameters filled from
    a bounce where their name says which value they take; the rest upper-case placeholders."""
    import shlex

    values = {"recipient": recipient, "sender": sender}
    words = ["invoke", "playbook.run", name]
    for param in required:
        value = values.get(_FROM_NDR.get(param, ""))
        shown = shlex.quote(f"{param}={value}") if value else f"{param}={param.upper()}"
        words += ["--param", shown]
    return " ".join(words)
