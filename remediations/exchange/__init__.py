"""Cmdlets as data, and the transports that run them."""

from remediations.exchange.cmdlet import AddRemove, Cmdlet, CmdletResult, ParamValue, Transport

__all__ = ["AddRemove", "Cmdlet", "CmdletResult", "ParamValue", "Transport"]
