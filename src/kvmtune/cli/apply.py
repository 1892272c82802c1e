"""`kvmtune apply ACTION ...`: one tuning action, validated, shown as virsh, logged, undoable.

Argument order and option names follow virsh where virsh has them. Exit 0 applied (or a
valid dry run), 2 invalid/refused/unconfirmed (one clear line), 1 the hypervisor or the
kernel said no (its message).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import Any

from .. import cpuset, inputs
from ..actions import (
    Action,
    BlkDevIoTune,
    BlkioTune,
    EmulatorPin,
    Executor,
    HugepagePool,
    IoThreadPin,
    KsmSet,
    MemTune,
    MoveToNode,
    NumaBalancing,
    NumaTune,
    Result,
    ThpEnabled,
    VcpuPin,
    display,
)
from ..actions.executor import TIMEOUT_S
from ..feed import Feed
from ..model import Snapshot
from ..vocab import IOTUNE_INT_KEYS, NUMA_MODES, SCOPE_BOTH, THP_MODES
from .common import CliError, add_source_args, argtype, open_feed, seconds

_S = argparse.SUPPRESS
_NEGATIVE = re.compile(r"^-[0-9][0-9.]*[A-Za-z]*$")   # -5, -5G, -1.5M: a value, not an option
_KEEP = object()   # memtune: an option not given (None already means unlimited)

size = argtype(inputs.size_kib, "size")
page_size = argtype(inputs.page_size_kib, "page size")
cpulist = argtype(inputs.cpulist, "CPU list")
cpulist_or_unpin = argtype(inputs.cpulist_or_unpin, "CPU list")
vcpu_or_all = argtype(inputs.vcpu_or_all, "vCPU")
whole = argtype(inputs.whole, "number")
on_off = argtype(inputs.on_off, "on/off")
device_weights = argtype(inputs.device_weights, "device weights")


def add_common(p: argparse.ArgumentParser) -> None:
    """The host and safety options of every command that changes something."""
    add_source_args(p)
    g = p.add_argument_group("safety")
    g.add_argument("--dry-run", action="store_true", default=_S,
                   help="show the equivalent command and the validation result; change nothing")
    g.add_argument("-y", "--yes", action="store_true", default=False,
                   help="confirm changes the tuning guide warns about")
    g.add_argument("--read-only", action="store_true", default=_S, help="refuse every change")
    g.add_argument("--log", metavar="FILE", default=None,
                   help="audit log (default $XDG_STATE_HOME/kvmtune/actions.log)")
    g.add_argument("--timeout", type=seconds, default=TIMEOUT_S, metavar="SECONDS",
                   help=f"how long to wait for libvirt's answer about the guest (default {TIMEOUT_S:g}): "
                        "a stopped or stuck QEMU fails the change instead of hanging")


class _ScopeFlag(argparse.Action):
    """--live, --config, --current as virsh takes them: --live with --config means both;
    --current goes alone."""

    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        have, new = ns.scope, self.const
        if have is None or have == new:
            ns.scope = new
        elif "current" in (have, new):
            parser.error("--current cannot be combined with --live or --config")
        else:   # live then config, config then live, or either after both
            ns.scope = SCOPE_BOTH


def _scope(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scope (as virsh; none given: live for a running guest, else config)")
    for s, h in (("live", "change the running guest"),
                 ("config", "change the saved definition (with --live: both)"),
                 ("current", "the guest's current state, as virsh")):
        g.add_argument(f"--{s}", dest="scope", action=_ScopeFlag, nargs=0, const=s, help=h)
    p.set_defaults(scope=None)


def register(subparsers: Any) -> None:
    ap: argparse.ArgumentParser = subparsers.add_parser(
        "apply", help="apply one tuning action (validated, shown as virsh, logged, undoable)",
        description="Apply one tuning step of the RHEL 7 Virtualization Tuning Guide. The equivalent "
                    "virsh/sysfs command is shown; every attempt is logged; `kvmtune undo` reverts it.")
    acts = ap.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(ap))

    def add(name: str, help: str, build: Callable[[argparse.Namespace], Action], guest: bool = True,
            ) -> argparse.ArgumentParser:
        p = acts.add_parser(name, help=help, description=help)
        # "--hard-limit -5G" hands -5G to the value's parser, which says what is wrong with it
        # (argparse would take it for an option and say "expected one argument").
        p._negative_number_matcher = _NEGATIVE
        if guest:
            p.add_argument("guest", metavar="GUEST", help="guest (domain) name")
        p.set_defaults(func=cmd_apply, build=build)
        return p

    p = add("vcpupin", "pin a vCPU (or all) to host CPUs, or unpin it",
            lambda a: VcpuPin(a.guest, a.vcpu, a.cpulist, a.scope or "live"))
    p.add_argument("vcpu", metavar="VCPU", type=vcpu_or_all, help="vCPU index, or 'all'")
    p.add_argument("cpulist", metavar="LIST", type=cpulist_or_unpin,
                   help="host CPU list (e.g. 2-3,6), or 'unpin' for every CPU the guest may use")
    _scope(p)

    p = add("emulatorpin", "pin the guest's emulator threads to host CPUs, or unpin them",
            lambda a: EmulatorPin(a.guest, a.cpulist, a.scope or "live"))
    p.add_argument("cpulist", metavar="LIST", type=cpulist_or_unpin, help="host CPU list, or 'unpin'")
    _scope(p)

    p = add("iothreadpin", "pin one I/O thread to host CPUs",
            lambda a: IoThreadPin(a.guest, a.iothread, a.cpulist, a.scope or "live"))
    p.add_argument("iothread", metavar="ID", type=whole, help="I/O thread id")
    p.add_argument("cpulist", metavar="LIST", type=cpulist, help="host CPU list")
    _scope(p)

    p = add("numatune", "set the guest's NUMA memory mode and/or nodeset",
            lambda a: NumaTune(a.guest, a.mode, None if a.nodeset is None else cpuset.format(a.nodeset),
                               a.scope or "live"))
    p.add_argument("--mode", choices=NUMA_MODES)
    p.add_argument("--nodeset", type=cpulist, metavar="LIST", help="NUMA nodes, e.g. 0 or 0-1")
    _scope(p)

    p = add("memtune", "set memory limits (KiB by default; K/M/G suffixes; 'unlimited')",
            lambda a: MemTune(a.guest, scope=a.scope or "live", **{k: getattr(a, k) for k in
                              ("hard", "soft", "swap_hard") if getattr(a, k) is not _KEEP}))
    p.add_argument("--hard-limit", dest="hard", type=size, default=_KEEP, metavar="SIZE")
    p.add_argument("--soft-limit", dest="soft", type=size, default=_KEEP, metavar="SIZE")
    p.add_argument("--swap-hard-limit", dest="swap_hard", type=size, default=_KEEP, metavar="SIZE")
    _scope(p)

    p = add("blkiotune", "set the guest's block I/O weight and/or per-device weights",
            lambda a: BlkioTune(a.guest, a.weight, a.device_weights, a.scope or "live"))
    p.add_argument("--weight", type=whole, metavar="N", help="100-1000")
    p.add_argument("--device-weights", type=device_weights, metavar="PATH,N[,PATH,N]",
                   help="per host device, 100-1000; 0 removes a device's weight")
    _scope(p)

    p = add("blkdeviotune", "throttle one disk (bytes and IOPS limits; 0 removes a limit)",
            lambda a: BlkDevIoTune(a.guest, a.disk, {k: getattr(a, k) for k in IOTUNE_INT_KEYS + ("group_name",)
                                                      if getattr(a, k) is not None}, a.scope or "live"))
    p.add_argument("disk", metavar="DISK", help="disk target, e.g. vda")
    for k in IOTUNE_INT_KEYS:
        parse = inputs.iotune(k)   # the TUI's throttle fields read bytes with the same function
        p.add_argument("--" + k.replace("_", "-"), dest=k, type=argtype(parse, "size" if parse is inputs.scaled
                                                                          else "number"),
                       metavar="BYTES" if parse is inputs.scaled else "N")
    p.add_argument("--group-name", dest="group_name", metavar="NAME", help="share limits with other disks")
    _scope(p)

    p = add("move", "move a guest to NUMA node(s): vCPUs, emulator and memory (numatune strict) together",
            lambda a: MoveToNode(a.guest, a.node, a.scope or "live"))
    p.add_argument("--node", type=cpulist, metavar="LIST", required=True, help="NUMA node(s), e.g. 1")
    _scope(p)

    p = add("ksm", "set KSM: run 0/1/2, pages_to_scan, sleep_millisecs, merge_across_nodes",
            lambda a: KsmSet({k: getattr(a, k) for k in ("run", "pages_to_scan", "sleep_millisecs",
                                                          "merge_across_nodes") if getattr(a, k) is not None}),
            guest=False)
    p.add_argument("--run", type=whole, choices=(0, 1, 2), metavar="0|1|2",
                   help="0 stop, 1 run, 2 stop and unmerge every page")
    p.add_argument("--pages-to-scan", type=whole, metavar="N")
    p.add_argument("--sleep-millisecs", type=whole, metavar="MS")
    p.add_argument("--merge-across-nodes", type=whole, choices=(0, 1), metavar="0|1")

    p = add("hugepages", "set a hugepage pool (per node or host-wide)",
            lambda a: HugepagePool(a.size, a.node, a.count), guest=False)
    p.add_argument("--size", type=page_size, default=2048, metavar="SIZE",
                   help="page size, KiB or with a suffix (default 2048 = 2M)")
    p.add_argument("--count", type=whole, required=True, metavar="N", help="pages in the pool")
    p.add_argument("--node", type=whole, metavar="N", help="NUMA node (default: host-wide)")

    p = add("numa-balancing", "turn automatic NUMA balancing on or off",
            lambda a: NumaBalancing(a.state), guest=False)
    p.add_argument("state", metavar="on|off", type=on_off)

    p = add("thp", "set transparent hugepages (enabled)", lambda a: ThpEnabled(a.mode), guest=False)
    p.add_argument("mode", choices=THP_MODES)

    for p in acts.choices.values():
        add_common(p)


# -- running ------------------------------------------------------------------------------

def open_executor(args: argparse.Namespace) -> tuple[Feed, Executor, Snapshot]:
    """The feed the options name, an executor on its source, and one snapshot to validate
    against. The caller closes the feed (its collector and source)."""
    feed = open_feed(args)
    source = feed.source
    if source is None:
        feed.close()
        raise CliError("this feed cannot be tuned")
    try:
        snap = feed.next()
    except BaseException:
        feed.close()
        raise
    ex = Executor(source, log_path=args.log, read_only=getattr(args, "read_only", False),
                  dry_run=getattr(args, "dry_run", False), timeout=args.timeout)
    return feed, ex, snap


def cmd_apply(args: argparse.Namespace) -> int:
    feed, ex, snap = open_executor(args)
    try:
        if getattr(args, "scope", "x") is None:   # virsh's default: live when running, else config
            g = snap.guest(args.guest)
            args.scope = "config" if g is not None and not g.running else "live"
        try:
            action = args.build(args)
        except ValueError as e:
            raise CliError(str(e)) from None
        return report(ex.run(action, snap, confirmed=args.yes))
    finally:
        feed.close()


def report(r: Result) -> int:
    """The result as the CLI prints it: commands and outcome on stdout only for what was
    applied or dry-run (a script reading stdout must never see a command that did not run);
    refusals on stderr, with the commands --yes would run or the ones that failed."""
    if r.status in ("applied", "dry-run"):
        for c in r.commands:
            print(display(c))
        for risk in r.risks:
            print(f"risk (confirmed): {risk}" if r.status == "applied" else f"risk: {risk}")
        ref = f" (#{r.entry_id})" if r.entry_id else ""     # the hint only where undo would take it
        ref = f" (#{r.entry_id}; `{r.undo_hint}` reverts it)" if r.undo_hint else ref
        print(r.message + ref)
        return r.exit_code
    err = sys.stderr
    if r.status == "needs-confirmation":
        for c in r.commands:
            print(f"kvmtune: would run: {display(c)}", file=err)
        if r.undo_of is not None:   # name the entry: a plain `undo --yes` later may find a newer one
            print(f"kvmtune: {r.message.split(' needs confirmation')[0]}", file=err)
        for risk in r.risks:
            print(f"kvmtune: risk: {risk}", file=err)
        print(f"kvmtune: not undone: re-run `{r.undo_hint}` to confirm" if r.undo_hint
              else "kvmtune: not applied: re-run with --yes to confirm", file=err)
    else:
        print(f"kvmtune: {r.message}", file=err)
        if r.status == "failed":   # it was attempted: what to retry or check by hand
            for c in r.commands:
                print(f"kvmtune: tried: {display(c)}", file=err)
        for p in r.problems[1:]:
            print(f"kvmtune: also: {p}", file=err)
    return r.exit_code
