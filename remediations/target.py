"""Targets: what a run acts on, named in Invoke's configuration and assembled once at the edge.

The sandbox is the default.  Real targets are named under ``targets:``; the
one to use is ``--target NAME`` / ``INVOKE_TARGET`` (Invoke's ``target``
setting), else the configuration's ``target:``, else the sandbox::

    target: northwind                  # the default target; absent = the sandbox
    targets:
      northwind:
        kind: exchange-online          # exchange-online | exchange-onprem | sandbox
        tenant: northwindtraders.onmicrosoft.com   # domain or tenant id
        credential:
          kind: certificate            # certificate | secret | device-code | managed-identity
                                       # | azure-cli | token | default
          client_id: 00000000-0000-0000-0000-000000000000
          certificate_path: ~/.certs/ndr-app.pem
          # certificate_password_env: NDR_CERT_PASSWORD
          # secret_env: NDR_SECRET  or  secret_file: ~/.secrets/ndr   (kind: secret)
          # exchange_token_env: EXO_TOKEN  graph_token_env: GRAPH_TOKEN (kind: token)
          # token_cache: true  allow_unencrypted_cache: true     (persistent token cache)
        endpoints:                     # optional; the global cloud when absent
          exchange: https://outlook.office365.com
          graph: https://graph.microsoft.com
        onprem: hq-onprem              # optional: the target that changes directory-synced objects
      hq-onprem:
        kind: exchange-onprem
        server: mail.contoso.com       # https://server/PowerShell, configuration Microsoft.Exchange
        auth: kerberos                 # kerberos | negotiate | certificate (basic: loopback only)
        # endpoint: http://127.0.0.1:8530/PowerShell   (loopback test servers only over http)
        # username: svc-ndr  password_env: NDR_ONPREM_PASSWORD   (negotiate / basic)
      lab:
        kind: sandbox
        path: /tmp/lab.json            # optional; sandbox.path when absent

:func:`read_targets` turns the configuration into frozen :class:`TargetSpec`
values (one sentence naming the key for anything wrong); :func:`open_target`
builds the run's :class:`Target`: the Exchange side, the directory side and
what the target can do, as typed attributes.  Tenant SDKs are imported only
for real targets; when they are missing, one sentence says what to install.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from remediations.endpoints import is_loopback_host, is_loopback_url
from remediations.errors import InputError
from remediations.terminal import STDERR

if TYPE_CHECKING:
    from remediations.budget import RetryBudget
    from remediations.directory import Directory
    from remediations.directory.graph import GraphDirectory
    from remediations.exchange.cmdlet import Transport

__all__ = [
    "CREDENTIAL_KINDS",
    "GLOBAL_EXCHANGE",
    "GLOBAL_GRAPH",
    "KINDS",
    "ONPREM_AUTH",
    "CredentialSpec",
    "Target",
    "TargetSpec",
    "is_loopback_url",
    "open_target",
    "read_targets",
    "target_name",
]

KINDS = ("exchange-online", "exchange-onprem", "sandbox")
CREDENTIAL_KINDS = (
    "certificate",
    "secret",
    "device-code",
    "managed-identity",
    "azure-cli",
    "token",
    "default",
)
ONPREM_AUTH = ("kerberos", "negotiate", "certificate", "basic")
GLOBAL_EXCHANGE = "https://outlook.office365.com"
GLOBAL_GRAPH = "https://graph.microsoft.com"

_KEYS = {
    "exchange-online": frozenset({"kind", "tenant", "credential", "endpoints", "onprem"}),
    "exchange-onprem": frozenset(
        {
            "kind",
            "server",
            "auth",
            "endpoint",
            "username",
            "password_env",
            "password_file",
            "certificate_path",
            "certificate_key_path",
            "cert_validation",
        }
    ),
    "sandbox": frozenset({"kind", "path", "faults"}),
}
_CREDENTIAL_KEYS = {
    "certificate": {"client_id", "certificate_path", "certificate_password_env", "tenant_id"},
    "secret": {"client_id", "secret_env", "secret_file", "tenant_id"},
    "device-code": {"client_id", "tenant_id"},
    "managed-identity": {"client_id"},
    "azure-cli": {"tenant_id"},
    "token": {"exchange_token_env", "graph_token_env"},
    "default": set(),
}
_CACHE_KEYS = {"token_cache", "allow_unencrypted_cache"}
_SECRET_WORDS = ("secret", "password", "token")


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialSpec:
    """How to sign in: a kind and where its secrets are (env var names and file paths only)."""

    kind: str
    client_id: str = ""
    tenant_id: str = ""
    certificate_path: Path | None = None
    certificate_password_env: str = ""
    secret_env: str = ""
    secret_file: Path | None = None
    exchange_token_env: str = ""
    graph_token_env: str = ""
    token_cache: bool = False
    allow_unencrypted_cache: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetSpec:
    """One entry of ``targets:``, checked."""

    name: str
    kind: str
    tenant: str = ""
    credential: CredentialSpec | None = None
    exchange_endpoint: str = GLOBAL_EXCHANGE
    graph_endpoint: str = GLOBAL_GRAPH
    onprem: str = ""
    # exchange-onprem
    server: str = ""
    auth: str = "kerberos"
    endpoint: str = ""
    username: str = ""
    password_env: str = ""
    password_file: Path | None = None
    certificate_path: Path | None = None
    certificate_key_path: Path | None = None
    cert_validation: bool = True
    # sandbox
    path: Path | None = None
    faults: str = ""

    @property
    def is_real(self) -> bool:
        """Whether this target is a tenant (not the sandbox)."""
        return self.kind != "sandbox"

    @property
    def onprem_url(self) -> str:
        """The PSRP endpoint: ``https://{server}/PowerShell`` unless ``endpoint`` says otherwise."""
        return self.endpoint or f"https://{self.server}/PowerShell"


@dataclass(slots=True, kw_only=True)
class Target:
    """What one run acts on; nothing below the edge asks which kind it is.

    ``transport`` is the run's one transport: it sends Microsoft Graph PowerShell
    cmdlets (``Get-MgUser``, ``Set-MgUserLicense``, ...) to the directory and every
    other cmdlet to Exchange (:class:`~remediations.directory.cmdlets.RoutedTransport`);
    ``exchange`` is the Exchange side alone; ``directory`` answers users, licenses,
    SKUs, domains, groups and group sizes (None for an on-premises-only target);
    ``confirm_before_apply`` says whether applying asks first;
    ``can_fork``/:meth:`planning_copy` give an in-memory copy to plan ahead on (a fork of
    the sandbox; for a real tenant a :class:`~remediations.sandbox.planning.PlanningCopy`,
    which reads the tenant once and keeps planned writes in memory);
    ``dns_resolver`` answers the domain checks; ``sends_test_mail`` says whether a test
    message can be sent through it after a fix (the sandbox's mail flow);
    ``sandbox_path`` is the sandbox file a sandbox target acts on (None for a tenant).
    ``directory`` and ``dns_resolver`` are made when first asked for: a fix sends its
    cmdlets through ``transport`` and never asks, so its run imports neither.
    """

    name: str
    kind: str
    tenant: str
    transport: Transport
    exchange: Transport
    confirm_before_apply: bool
    can_fork: bool = False
    sends_test_mail: bool = False
    sandbox_path: Path | None = None
    description: str = ""
    _directory: Callable[[], Directory | None] = field(repr=False)
    _dns_resolver: Callable[[], Any] = field(repr=False)
    _fork: Callable[[], Transport] | None = field(default=None, repr=False)
    _closers: tuple[Callable[[], None], ...] = field(default=(), repr=False)
    _made: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def directory(self) -> Directory | None:
        """Users, licenses, SKUs, domains, groups and group sizes (None: on premises only)."""
        if "directory" not in self._made:
            self._made["directory"] = self._directory()
        directory: Directory | None = self._made["directory"]
        return directory

    @property
    def dns_resolver(self) -> Any:
        """What answers the domain checks' DNS queries."""
        if "dns_resolver" not in self._made:
            self._made["dns_resolver"] = self._dns_resolver()
        return self._made["dns_resolver"]

    def planning_copy(self) -> Transport:
        """An in-memory copy of the target to plan ahead on (only when ``can_fork``)."""
        if self._fork is None:
            raise InputError(f"target {self.name!r} cannot be copied for planning ahead.")
        return self._fork()

    def close(self) -> None:
        """Release connections and credentials; idempotent."""
        closers, self._closers = self._closers, ()
        for close in closers:
            close()


# --- reading the configuration ---------------------------------------------------------


def target_name(config: Any, explicit: str | None = None) -> str:
    """The target to use: ``--target``, else ``INVOKE_TARGET``/``target:``, else the sandbox."""
    if explicit:
        return explicit
    chosen = _get(config, "target")
    return str(chosen) if chosen else "sandbox"


def read_targets(config: Any) -> dict[str, TargetSpec]:
    """Every entry of ``targets:``, checked; InputError naming the key for anything wrong."""
    raw = _get(config, "targets")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InputError("targets must map each target's name to its settings.")
    return {str(name): _read_target(str(name), entry) for name, entry in raw.items()}


def _read_target(name: str, entry: Any) -> TargetSpec:
    where = f"targets.{name}"
    if not isinstance(entry, Mapping):
        raise InputError(f"{where} must be a mapping with at least 'kind'.")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise InputError(f"{where}.kind is {kind!r}; give one of {', '.join(KINDS)}.")
    _check_keys(entry, _KEYS[kind], where)
    if kind == "sandbox":
        path = entry.get("path")
        return TargetSpec(
            name=name,
            kind=kind,
            path=Path(_text(path, f"{where}.path")).expanduser() if path is not None else None,
            faults=_text(entry.get("faults", ""), f"{where}.faults", empty=True),
        )
    if kind == "exchange-online":
        tenant = _text(entry.get("tenant"), f"{where}.tenant", hint="a domain or tenant id")
        endpoints = entry.get("endpoints") or {}
        if not isinstance(endpoints, Mapping):
            raise InputError(f"{where}.endpoints must be a mapping with 'exchange' and/or 'graph'.")
        _check_keys(endpoints, frozenset({"exchange", "graph"}), f"{where}.endpoints")
        return TargetSpec(
            name=name,
            kind=kind,
            tenant=tenant,
            credential=_read_credential(entry.get("credential"), f"{where}.credential"),
            exchange_endpoint=_url(
                endpoints.get("exchange", GLOBAL_EXCHANGE), f"{where}.endpoints.exchange"
            ),
            graph_endpoint=_url(endpoints.get("graph", GLOBAL_GRAPH), f"{where}.endpoints.graph"),
            onprem=_text(entry.get("onprem", ""), f"{where}.onprem", empty=True),
        )
    server = _text(entry.get("server", ""), f"{where}.server", empty=True)
    endpoint = entry.get("endpoint")
    endpoint = _url(endpoint, f"{where}.endpoint") if endpoint is not None else ""
    if not server and not endpoint:
        raise InputError(f"{where}.server is missing; give the Exchange server's name.")
    auth = entry.get("auth", "kerberos")
    if auth not in ONPREM_AUTH:
        raise InputError(f"{where}.auth is {auth!r}; give one of kerberos, negotiate, certificate.")
    if auth == "basic" and not (endpoint and is_loopback_host(urlsplit(endpoint).hostname or "")):
        raise InputError(
            f"{where}.auth 'basic' is only for loopback test servers; "
            "give kerberos, negotiate or certificate."
        )
    validation = entry.get("cert_validation", True)
    if not isinstance(validation, bool):
        raise InputError(f"{where}.cert_validation must be true or false.")
    return TargetSpec(
        name=name,
        kind=kind,
        server=server or (urlsplit(endpoint).hostname or ""),
        auth=auth,
        endpoint=endpoint,
        username=_text(entry.get("username", ""), f"{where}.username", empty=True),
        password_env=_text(entry.get("password_env", ""), f"{where}.password_env", empty=True),
        password_file=_path(entry.get("password_file"), f"{where}.password_file"),
        certificate_path=_path(entry.get("certificate_path"), f"{where}.certificate_path"),
        certificate_key_path=_path(
            entry.get("certificate_key_path"), f"{where}.certificate_key_path"
        ),
        cert_validation=validation,
    )


def _read_credential(raw: Any, where: str) -> CredentialSpec:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where} is missing; give a mapping with 'kind' (e.g. certificate).")
    kind = raw.get("kind")
    if kind not in CREDENTIAL_KINDS:
        raise InputError(f"{where}.kind is {kind!r}; give one of {', '.join(CREDENTIAL_KINDS)}.")
    allowed = frozenset({"kind", *_CREDENTIAL_KEYS[kind], *_CACHE_KEYS})
    for key in raw:
        if key not in allowed and any(word in str(key) for word in _SECRET_WORDS):
            raise InputError(
                f"{where}.{key} is not accepted: secrets are never written in configuration; "
                "name an environment variable (…_env) or a file (…_file) instead."
            )
    _check_keys(raw, allowed, where)
    values: dict[str, Any] = {"kind": kind}
    for key in ("client_id", "tenant_id", "certificate_password_env", "secret_env"):
        if key in raw:
            values[key] = _text(raw[key], f"{where}.{key}")
    for key in ("exchange_token_env", "graph_token_env"):
        if key in raw:
            values[key] = _text(raw[key], f"{where}.{key}")
    for key in ("certificate_path", "secret_file"):
        if key in raw:
            values[key] = _path(raw[key], f"{where}.{key}")
    for key in _CACHE_KEYS:
        if key in raw:
            if not isinstance(raw[key], bool):
                raise InputError(f"{where}.{key} must be true or false.")
            values[key] = raw[key]
    if kind in ("certificate", "secret") and not values.get("client_id"):
        raise InputError(f"{where}.client_id is missing; give the app registration's client id.")
    if kind == "certificate" and values.get("certificate_path") is None:
        raise InputError(
            f"{where}.certificate_path is missing; give the app's certificate file (PEM or PFX)."
        )
    if kind == "secret" and not values.get("secret_env") and values.get("secret_file") is None:
        raise InputError(f"{where} needs secret_env or secret_file (never the secret itself).")
    if kind == "token" and not (values.get("exchange_token_env") or values.get("graph_token_env")):
        raise InputError(
            f"{where} needs exchange_token_env and/or graph_token_env: "
            "the environment variables holding the access tokens."
        )
    return CredentialSpec(**values)


def _get(config: Any, key: str) -> Any:
    try:
        return config.get(key)
    except (AttributeError, KeyError):
        return None


def _check_keys(entry: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(k) for k in entry if k not in allowed)
    if unknown:
        raise InputError(
            f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(sorted(allowed))}."
        )


def _text(value: Any, where: str, *, empty: bool = False, hint: str = "one text value") -> str:
    if value is None and not empty:
        raise InputError(f"{where} is missing; give {hint}.")
    if value is None:
        return ""
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise InputError(f"{where} must be {hint}.")
    return value.strip()


def _path(value: Any, where: str) -> Path | None:
    if value is None:
        return None
    return Path(_text(value, where, hint="a file path")).expanduser()


def _url(value: Any, where: str) -> str:
    text = _text(value, where, hint="an https:// address")
    parts = urlsplit(text)
    if parts.scheme == "https" and parts.hostname:
        return text.rstrip("/")
    if parts.scheme == "http" and is_loopback_host(parts.hostname or ""):
        return text.rstrip("/")
    if parts.scheme == "http":
        raise InputError(
            f"{where} is {text!r}: plain http:// is only for loopback test servers; "
            "give an https:// address."
        )
    raise InputError(f"{where} is {text!r}; give an https:// address.")


# --- assembling the run's target -------------------------------------------------------


def open_target(
    config: Any,
    name: str | None = None,
    *,
    dry_run: bool = False,
    budget: RetryBudget | None = None,
    err: TextIO = STDERR,
    resolve: Callable[[Path], Path] | None = None,
) -> Target:
    """The run's target: the one named (or configured), checked and connected lazily.

    A dry run's transports refuse every write (:class:`remediations.exchange.dryrun.DryRun`).
    ``resolve`` turns a sandbox file setting into the path to open (the edge resolves
    relative ones against the project folder); as given when None.
    """
    chosen = target_name(config, name)
    specs = read_targets(config)
    if chosen not in specs:
        if chosen == "sandbox":
            return _sandbox_target(
                config, TargetSpec(name="sandbox", kind="sandbox"), err, dry_run, resolve
            )
        known = ", ".join(sorted({"sandbox", *specs}))
        raise InputError(f"target {chosen!r} is not configured; give one of {known}.")
    spec = specs[chosen]
    if spec.kind == "sandbox":
        return _sandbox_target(config, spec, err, dry_run, resolve)
    from remediations.budget import RetryBudget

    budget = budget or RetryBudget()
    onprem: TargetSpec | None = None
    if spec.onprem:
        onprem = specs.get(spec.onprem)
        if onprem is None or onprem.kind != "exchange-onprem":
            hybrid = ", ".join(sorted(n for n, t in specs.items() if t.kind == "exchange-onprem"))
            raise InputError(
                f"targets.{spec.name}.onprem is {spec.onprem!r}, which is not an "
                f"exchange-onprem target; give the name of one ({hybrid or 'none configured'})."
            )
    try:
        if spec.kind == "exchange-online":
            return _online_target(spec, budget, dry_run, onprem)
        return _onprem_target(spec, budget, dry_run)
    except ImportError as exc:
        from remediations.credentials import INSTALL_HINT

        raise InputError(
            f"target {spec.name!r} needs the tenant SDKs ({exc.name or exc} is missing); "
            f"{INSTALL_HINT}."
        ) from None


def _sandbox_target(
    config: Any,
    spec: TargetSpec,
    err: TextIO,
    dry_run: bool,
    resolve: Callable[[Path], Path] | None = None,
) -> Target:
    from remediations.exchange.dryrun import DryRun
    from remediations.sandbox import SandboxTransport, reset_sandbox
    from remediations.sandbox.transport import Faults

    sandbox = _get(config, "sandbox") or {}
    configured = str(sandbox.get("path") or "")
    path = spec.path or (Path(configured) if configured else Path(".sandbox") / "tenant.db")
    if resolve is not None:
        path = resolve(path)
    faults = Faults.parse(spec.faults or str(sandbox.get("faults") or ""))
    if spec.path is None and not configured and not path.exists():
        reset_sandbox(path)
        print(f"No sandbox tenant yet: created the demo tenant at {path}.", file=err)
    transport = SandboxTransport(path, faults=faults)
    exchange: Transport = DryRun(transport) if dry_run else transport

    def directory() -> Directory:
        from remediations.directory.sandbox import SandboxDirectory

        return SandboxDirectory(exchange)

    def dns_resolver() -> Any:
        from remediations.dns_lookup import ZoneResolver
        from remediations.sandbox.directory import zone_data

        return ZoneResolver(zone_data(transport.state))

    return Target(
        name=spec.name,
        kind="sandbox",
        tenant=transport.tenant,
        # The sandbox is its own directory: it answers the Graph PowerShell cmdlets itself,
        # so its one transport needs no routing.
        transport=exchange,
        exchange=exchange,
        _directory=directory,
        confirm_before_apply=False,
        _dns_resolver=dns_resolver,
        can_fork=True,
        sends_test_mail=True,
        sandbox_path=path,
        description=f"the sandbox tenant {transport.tenant} ({path})",
        _fork=transport.fork,
        _closers=(transport.close,),
    )


def _online_target(
    spec: TargetSpec, budget: RetryBudget, dry_run: bool, onprem_spec: TargetSpec | None = None
) -> Target:
    from remediations.credentials import token_sources
    from remediations.directory.cmdlets import DirectoryCmdlets, RoutedTransport
    from remediations.dns_lookup import SystemResolver
    from remediations.exchange.adminapi import AdminApiTransport
    from remediations.exchange.dryrun import DryRun

    assert spec.credential is not None  # checked when the settings were read
    exchange_tokens, graph_tokens = token_sources(spec.credential, tenant=spec.tenant)
    transport = AdminApiTransport(
        tenant=spec.tenant,
        endpoint=spec.exchange_endpoint,
        token=exchange_tokens.token,
        budget=budget,
        onprem=spec.onprem,
    )
    directory = _graph_directory(spec, graph_tokens, budget, dry_run)
    exchange: Transport = DryRun(transport) if dry_run else transport
    graph: Transport = DirectoryCmdlets(directory, tenant=spec.tenant)
    onprem: Transport | None = None
    if onprem_spec is not None:
        from remediations.exchange.psrp import PsrpTransport

        onprem = PsrpTransport.from_spec(onprem_spec, budget=budget)  # connects on first use
    routed = RoutedTransport(
        exchange,
        DryRun(graph) if dry_run else graph,
        target=spec.name,
        onprem=(DryRun(onprem) if dry_run else onprem) if onprem is not None else None,
    )
    return Target(
        name=spec.name,
        kind=spec.kind,
        tenant=spec.tenant,
        transport=routed,
        exchange=exchange,
        _directory=lambda: directory,
        confirm_before_apply=True,
        _dns_resolver=SystemResolver,
        description=(
            f"{spec.name}: Exchange Online {spec.tenant} (admin API at {spec.exchange_endpoint}); "
            f"directory: Microsoft Graph at {spec.graph_endpoint}"
        ),
        can_fork=True,
        # Through the routed transport: the copy's pass-through reads (Get-MgGroup ...)
        # reach the directory, not Exchange.
        _fork=_planning_copy(routed, directory),
        _closers=(
            transport.close,
            directory.close,
            exchange_tokens.close,
            graph_tokens.close,
            *((onprem.close,) if onprem is not None else ()),
        ),
    )


def _planning_copy(exchange: Transport, directory: Directory | None) -> Callable[[], Transport]:
    """A real tenant's planning copy: reads sent once to the tenant, writes kept in memory."""

    def fork() -> Transport:
        from remediations.sandbox.planning import PlanningCopy

        return PlanningCopy(exchange, directory)

    return fork


def _graph_directory(
    spec: TargetSpec, tokens: Any, budget: RetryBudget, dry_run: bool
) -> GraphDirectory:
    from remediations.directory.graph import GraphDirectory

    return GraphDirectory(
        endpoint=spec.graph_endpoint, token=tokens.token, budget=budget, dry_run=dry_run
    )


def _onprem_target(spec: TargetSpec, budget: RetryBudget, dry_run: bool) -> Target:
    from remediations.directory.cmdlets import RoutedTransport
    from remediations.dns_lookup import SystemResolver
    from remediations.exchange.dryrun import DryRun
    from remediations.exchange.psrp import PsrpTransport

    transport = PsrpTransport.from_spec(spec, budget=budget)
    exchange: Transport = DryRun(transport) if dry_run else transport
    routed = RoutedTransport(exchange, None, target=spec.name)
    return Target(
        name=spec.name,
        kind=spec.kind,
        tenant=spec.server,
        transport=routed,
        exchange=exchange,
        _directory=lambda: None,
        confirm_before_apply=True,
        _dns_resolver=SystemResolver,
        description=f"{spec.name}: Exchange Server {spec.server} over PSRP ({spec.onprem_url})",
        can_fork=True,
        _fork=_planning_copy(routed, None),  # a Graph cmdlet: one sentence naming the target
        _closers=(transport.close,),
    )
