"""NDR knowledge, below the sandbox (which produces bounces) and the diagnosis (which reads them).

* :mod:`remediations.ndr.codes`: the status codes, texts and cause ids, the table
  that maps what a bounce says to a cause (:data:`~remediations.ndr.codes.RULES`)
  and the exact rejections Exchange Online sends
  (:data:`~remediations.ndr.codes.SANDBOX_REJECTIONS`), unconfirmed texts marked.
* :mod:`remediations.ndr.build`: the real-format report builder.
* :mod:`remediations.ndr.mailflow`: the mail-flow decision (would this sender's
  message reach this recipient, and if not, with what code), a pure function over
  views built from what the ``Get-*`` cmdlets return.

This package imports neither :mod:`remediations.sandbox` nor :mod:`remediations.diagnose`.
"""
