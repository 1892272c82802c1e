"""vhost-net workers: the threads that move a guest's NIC queues, part of its placement (the
guide's 5.3: keep them on the node of its vCPUs). From Linux 6.4 they are threads of QEMU
named vhost-PID, found by the vCPU thread walk (process.vcpu_threads); before, kernel threads
of that name, found by a scan of /proc made at most every `every` seconds and only while a
guest with a NIC on vhost has none among its own threads."""

from __future__ import annotations

from ..cpuset import CpusetError
from ..cpuset import parse as parse_cpus
from ..devmodel import NetIf, VhostThread
from ..errors import FileMissing, HostFSError, ParseError
from ..hostfs import HostFS
from ..model import Error
from ..parse import task_stat
from .process import VHOST, VHOST_COMM, thread_run_ns


def vhost_tids(names: dict[str, int | None]) -> list[str]:
    """The vhost workers among a QEMU process's threads, from the thread-name cache that
    process.vcpu_threads fills."""
    return [tid for tid, index in names.items() if index == VHOST]


def kernel_vhost(fs: HostFS) -> dict[int, list[str]]:
    """QEMU pid -> the pids of the kernel threads vhost-<that pid> (Linux before 6.4)."""
    out: dict[int, list[str]] = {}
    for entry in fs.listdir("proc"):
        if not entry.isdigit():
            continue
        comm = fs.read_str(f"proc/{entry}/comm", None)
        if comm is not None and (m := VHOST_COMM.match(comm)):
            out.setdefault(int(m.group(1)), []).append(entry)
    return out


def vhost_thread(fs: HostFS, path: str, kernel: bool) -> VhostThread:
    """The worker at `path` (proc/PID/task/TID, or proc/TID for a kernel thread): the CPU it
    last ran on, its CPU time, the CPUs it may run on."""
    st = task_stat(fs.read_text(f"{path}/stat", keep=True))
    ns = thread_run_ns(fs, path, st)
    status = fs.read_text(f"{path}/status", None, keep=True) or ""
    allowed = next((line.partition(":")[2].strip() for line in status.splitlines()
                    if line.startswith("Cpus_allowed_list:")), "")
    return VhostThread(int(path.rsplit("/", 1)[1]), st.processor, parse_cpus(allowed) if allowed else (),
                       ns, kernel)


class VhostReader:
    def __init__(self, fs: HostFS, every: float):
        self.fs, self.every = fs, every
        self._kernel: dict[int, list[str]] | None = None   # the last scan's kernel workers by QEMU pid
        self._kernel_at = float("-inf")

    def read(self, name: str, pid: int | None, names: dict[str, int | None], nics: tuple[NetIf, ...],
             now: float, errors: list[Error]) -> tuple[VhostThread, ...]:
        """A running guest's workers (none unless a NIC of it is on vhost)."""
        if pid is None or not any(n.vhost for n in nics):
            return ()
        paths = [(f"proc/{pid}/task/{t}", False) for t in vhost_tids(names)]
        if not paths:
            if self._kernel is None or now - self._kernel_at >= self.every:
                self._kernel_at = now
                try:
                    self._kernel = kernel_vhost(self.fs)
                except HostFSError as e:
                    errors.append(Error(f"{name}: vhost threads", str(e)))
                    self._kernel = {}
            paths = [(f"proc/{t}", True) for t in self._kernel.get(pid, ())]
        out = []
        for path, kernel in paths:
            try:
                out.append(vhost_thread(self.fs, path, kernel))
            except FileMissing:
                continue   # exited (a NIC unplugged, the guest stopping)
            except (HostFSError, ParseError, CpusetError) as e:
                errors.append(Error(f"{name}: vhost thread", str(e)))
        return tuple(out)
