"""The sandbox as a transport: the real fake every test and the default target use."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from remediations.errors import BackendUnavailable, InputError, Throttled
from remediations.exchange import facts
from remediations.exchange.cmdlet import Cmdlet, CmdletResult
from remediations.sandbox.dispatch import run_cmdlet
from remediations.sandbox.state import SandboxState
from remediations.sandbox.store import TenantStore, in_memory, open_store

__all__ = ["Faults", "SandboxTransport"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Faults to inject, counted from 1 within one transport's life.

    ``fail_call``/``fail_write``: the Nth call (or write) fails before it takes
    effect, as a tenant that stops answering would; ``throttle_call``: the Nth
    call answers "throttled"; ``latency_ms``: every call waits this long first;
    ``replication_ms``: reads lag writes by this long, as Exchange Online's
    replication does (a read answers from the state as it was before every write
    younger than that).
    """

    fail_call: int | None = None
    fail_write: int | None = None
    throttle_call: int | None = None
    latency_ms: int = 0
    replication_ms: int = 0

    @classmethod
    def parse(cls, spec: str | None) -> Faults:
        """Read ``"fail_write=2,latency_ms=50"`` (the ``sandbox.faults`` setting)."""
        if not spec:
            return cls()
        values: dict[str, int] = {}
        for item in spec.split(","):
            key, sep, raw = item.strip().partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in cls.__dataclass_fields__ or not raw.strip().isdigit():
                raise InputError(
                    f"sandbox.faults {spec!r} is not understood; write comma-separated "
                    "key=number pairs with keys fail_call, fail_write, throttle_call, latency_ms, "
                    "replication_ms "
                    "(e.g. 'fail_write=2')."
                )
            values[key] = int(raw)
        return cls(**values)


class SandboxTransport:
    """Runs cmdlets against the sandbox store: one transaction per cmdlet.

    Every cmdlet reads what is committed when it starts (never this run's own
    memory); a write cmdlet holds the store's write lock from its read to its
    commit, so concurrent runs take turns and no update is lost.
    """

    name = "sandbox"

    def __init__(
        self,
        path: Path,
        *,
        faults: Faults | None = None,
        state: SandboxState | None = None,
        store: TenantStore | None = None,
    ) -> None:
        self.path = path
        if store is None:
            store = in_memory(state) if state is not None else open_store(path)
        self.store = store
        self.tenant = self.state.organization
        self.faults = faults or Faults()
        self.calls = 0
        self.writes = 0
        #: a fork's reads meet the faults and latency of the transport it was forked from
        self._live: SandboxTransport | None = None
        self._count_lock = threading.Lock()
        self._replica_lock = threading.Lock()
        #: (when, the tenant just before that write) for writes younger than replication_ms
        self._unreplicated: list[tuple[float, SandboxTransport]] = []

    @property
    def state(self) -> SandboxState:
        """The committed tenant, read as it is used (for mail flow and DNS)."""
        return self.store.snapshot()

    def send(self, cmdlet: Cmdlet) -> CmdletResult:
        """Run one cmdlet with Exchange's semantics, in its own transaction."""
        if self._live is not None and not cmdlet.is_write:
            self._live.meet_faults(cmdlet)
        else:
            self.meet_faults(cmdlet)
        if self.faults.replication_ms:
            stale = self._replica(cmdlet)
            if stale is not None:
                return stale.send(cmdlet)
        with self.store.transaction(write=cmdlet.is_write) as state:
            result = run_cmdlet(state, cmdlet)
            if cmdlet.is_write:
                state.journal(cmdlet.to_json())
        return result

    def meet_faults(self, cmdlet: Cmdlet) -> None:
        """Count the call, wait the injected latency, raise the injected fault if it is due.

        Concurrent writers share one count: the Nth call is the Nth whichever thread sends it.
        """
        with self._count_lock:
            self.calls += 1
            if cmdlet.is_write:
                self.writes += 1
            calls, writes = self.calls, self.writes
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if self.faults.throttle_call == calls:
            raise Throttled(facts.THROTTLED, cmdlet=cmdlet)
        if self.faults.fail_call == calls or (cmdlet.is_write and self.faults.fail_write == writes):
            raise BackendUnavailable(
                f"The sandbox did not answer {cmdlet.name} (injected fault).", cmdlet=cmdlet
            )

    def _replica(self, cmdlet: Cmdlet) -> SandboxTransport | None:
        """With ``replication_ms``: what a read sees (the tenant before the oldest write still
        replicating), or None for the live state; a write is remembered first."""
        with self._replica_lock:  # threads of a loopback server send at once
            now = time.monotonic()
            lag = self.faults.replication_ms / 1000
            for when, copy in self._unreplicated:
                if now - when >= lag:
                    copy.close()
            self._unreplicated = [(t, c) for t, c in self._unreplicated if now - t < lag]
            if cmdlet.is_write:
                self._unreplicated.append((now, self.fork()))
                return None
            return self._unreplicated[0][1] if self._unreplicated else None

    def fork(self) -> SandboxTransport:
        """A copy of this tenant in memory, never saved: for planning ahead.

        A playbook plans step 2 against the state step 1 would leave by sending
        step 1's cmdlets to a fork.  Its reads meet this transport's injected faults and
        latency (counted with this one's calls), as the same reads of the live tenant would,
        so a dry run plans under the conditions a real run meets; its writes are local.
        """
        copy = SandboxTransport(self.path, store=self.store.copy())
        copy._live = self
        return copy

    def close(self) -> None:
        """Close the store (every write is already committed)."""
        self.store.close()
