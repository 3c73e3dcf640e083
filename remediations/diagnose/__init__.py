"""NDR parsing and classification: what a 5.7.x bounce means and how to fix it.

* :func:`parse_ndr` reads an NDR (.eml, pasted text, one line) into an :class:`NdrReport`.
* :func:`diagnose` gives a :class:`Diagnosis` (cause, confidence, :class:`Fix`) per failure;
  :func:`render_text` and :func:`render_json` present them.
* :func:`build_ndr` writes a real-format Exchange Online NDR (for the sandbox).
* ``codes`` holds the table: :data:`RULES` and :data:`SANDBOX_REJECTIONS`.

Errors: :class:`NotAnNdr` (an ``InputError``: exit 2) when the input holds no NDR.
"""

from remediations.diagnose.classify import Diagnosis, Fix, diagnose, render_json, render_text
from remediations.diagnose.ndr import NdrFailure, NdrReport, NotAnNdr, parse_ndr
from remediations.ndr.build import RejectedRecipient, build_ndr
from remediations.ndr.codes import (
    CAUSES,
    RULES,
    SANDBOX_REJECTIONS,
    Cause,
    CodeRule,
    Confidence,
    Rejection,
    lookup,
    transport_rule_rejection,
)

__all__ = [
    "CAUSES",
    "RULES",
    "SANDBOX_REJECTIONS",
    "Cause",
    "CodeRule",
    "Confidence",
    "Diagnosis",
    "Fix",
    "NdrFailure",
    "NdrReport",
    "NotAnNdr",
    "RejectedRecipient",
    "Rejection",
    "build_ndr",
    "diagnose",
    "lookup",
    "parse_ndr",
    "render_json",
    "render_text",
    "transport_rule_rejection",
]
