#!/usr/bin/env bash
# The lab tier's test bed: a real libvirtd with small QEMU (TCG) guests (root, Debian 12).
#
#   lab.sh can-run         exit 0 when this machine can run the lab, else one line why + exit 1
#   lab.sh up              install, prepare, start the daemons and the kvmtune-lab-* guests (idempotent)
#   lab.sh down            remove exactly what `up` made (packages and qemu.conf settings stay)
#   lab.sh status          daemons, hugepages and guests; exit 1 when the lab is not fully up
#   lab.sh scale-up [N]    the lab plus N (default 50) more BIOS-only guests, kvmtune-lab-scale-NN,
#                          for measuring what a tick costs at scale (bench/host_cost.py)
#   lab.sh scale-down      remove the scale guests only (`down` removes them too)
#   lab.sh stop-libvirtd   stop the libvirtd that `up` started (by its recorded pid); exit 1 if it is not ours
#   lab.sh owns-libvirtd   exit 0 when the running libvirtd is the one `up` started, else one line why
#   lab.sh start-libvirtd  start it again the way `up` does and wait until it answers
#
# State (pids, what was reserved/mounted, disks, the cached guest kernel) lives in $LAB.
set -euo pipefail

LAB=${KVMTUNE_LAB_DIR:-/var/tmp/kvmtune-lab}
HERE=$(cd "$(dirname "$0")" && pwd)
URI=qemu:///system
PKGS=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
      libvirt-dev pkg-config numactl linux-perf cpio busybox-static xz-utils iproute2 iputils-ping)
# name:template
GUESTS=(kvmtune-lab-plain1:plain kvmtune-lab-plain2:plain kvmtune-lab-huge:huge kvmtune-lab-io:io
        kvmtune-lab-untuned:untuned)
HUGEPAGES=128          # 2 MiB pages reserved on top of whatever the host already has
# the I/O guest's tap (io.xml: libvirt makes it and removes it with the guest) and the host's
# address on it: pinging an unused address there sends ARP requests into the guest
IO_TAP=kvmtap-io
IO_TAP_ADDR=10.250.15.1/24

log() { echo "lab: $*" >&2; }
die() { echo "lab: $*" >&2; exit 1; }
v() { virsh -q -c "$URI" "$@"; }

# -- daemons (tracked by the pid files they write into $LAB; never found by name) --------

daemon_pid() {   # prints the recorded pid of $1 when that process is alive and is $1
    local f=$LAB/$1.pid pid
    [ -s "$f" ] || return 1
    pid=$(cat "$f")
    [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$1" ] || return 1
    echo "$pid"
}

answering() { v version >/dev/null 2>&1; }

start_daemon() {
    daemon_pid "$1" >/dev/null && return 0
    rm -f "$LAB/$1.pid"
    # -d detaches; no descriptor of the caller (make's stdout, pytest's pipes) stays open.
    "/usr/sbin/$1" -d -p "$LAB/$1.pid" </dev/null >>"$LAB/$1.log" 2>&1
    for _ in $(seq 50); do daemon_pid "$1" >/dev/null && return 0; sleep 0.1; done
    die "$1 did not start (see $LAB/$1.log)"
}

stop_daemon() {
    local pid
    pid=$(daemon_pid "$1") || return 0
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "$1 (pid $pid) did not exit on TERM within 10 s; killing it"
        kill -KILL "$pid"
    fi
    rm -f "$LAB/$1.pid"
}

start_libvirtd() {
    if answering && ! daemon_pid libvirtd >/dev/null; then
        log "a libvirtd not started by lab.sh already answers on $URI; using it"
        return 0
    fi
    start_daemon virtlogd
    start_daemon libvirtd
    for _ in $(seq 100); do answering && return 0; sleep 0.2; done
    die "libvirtd does not answer on $URI (see $LAB/libvirtd.log)"
}

# -- host preparation ---------------------------------------------------------------------

prepare_host() {
    "$HERE/ensure-packages.sh" "${PKGS[@]}"
    # libvirtd resolves the built-in default owner (libvirt-qemu:libvirt-qemu) before it
    # reads qemu.conf, so both groups must exist even though the guests run as root.
    getent group kvm >/dev/null || groupadd --system kvm
    getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
    id libvirt-qemu >/dev/null 2>&1 ||
        useradd --system --no-create-home --gid kvm --shell /usr/sbin/nologin libvirt-qemu
    mkdir -p /var/log/libvirt /etc/libvirt
    local conf=/etc/libvirt/qemu.conf key val
    touch "$conf"
    for kv in 'user="root"' 'group="root"' 'security_driver="none"'; do
        key=${kv%%=*} val=${kv#*=}
        if grep -qE "^[[:space:]]*$key[[:space:]]*=" "$conf"; then
            sed -i -E "s|^[[:space:]]*$key[[:space:]]*=.*|$key = $val|" "$conf"
        else
            echo "$key = $val" >>"$conf"
        fi
    done
    # Hugepages and hugetlbfs must be there before libvirtd starts (it scans mounts once).
    if [ ! -e "$LAB/hugepages.before" ]; then
        local before
        before=$(cat /proc/sys/vm/nr_hugepages)
        echo $((before + HUGEPAGES)) >/proc/sys/vm/nr_hugepages
        echo "$before" >"$LAB/hugepages.before"
        [ "$(cat /proc/sys/vm/nr_hugepages)" -ge $((before + HUGEPAGES)) ] ||
            log "only $(cat /proc/sys/vm/nr_hugepages) hugepages could be reserved"
    fi
    if ! mountpoint -q /dev/hugepages; then
        mkdir -p /dev/hugepages
        mount -t hugetlbfs hugetlbfs /dev/hugepages
        touch "$LAB/hugetlbfs.mounted"
    fi
}

# The I/O guest's kernel: the image linux-image-amd64 depends on, downloaded once into
# $LAB/cache, plus a busybox initramfs (rebuilt when its init or builder changes).
prepare_kernel() {
    if [ -s "$LAB/vmlinuz" ] && [ "$LAB/initrd.gz" -nt "$HERE/lab/init.sh" ] &&
        [ "$LAB/initrd.gz" -nt "$HERE/lab/build-initramfs.sh" ]; then
        return 0
    fi
    mkdir -p "$LAB/cache"
    local deb
    deb=$(first_file "$LAB"/cache/linux-image-*-amd64_*.deb)
    if [ -z "$deb" ]; then
        local dep
        # awk stops reading itself: no `| head` whose early exit would fail the pipeline
        kernel_dep() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
        dep=$(kernel_dep || true)
        if [ -z "$dep" ]; then        # no package lists yet on a fresh machine
            apt-get update -qq >/dev/null
            dep=$(kernel_dep || true)
        fi
        [ -n "$dep" ] || die "cannot tell which kernel linux-image-amd64 depends on"
        log "downloading $dep"
        (cd "$LAB/cache" && apt-get download -q "$dep" >/dev/null 2>&1) || die "apt-get download $dep failed"
        deb=$(first_file "$LAB"/cache/"$dep"_*.deb)
    fi
    "$HERE/lab/build-initramfs.sh" "$deb" "$LAB"
}

guest_xml() {   # name template -> the domain XML on stdout
    sed -e "s|@NAME@|$1|g" -e "s|@LAB@|$LAB|g" "$HERE/lab/$2.xml"
}

start_guests() {
    local entry name tpl
    for entry in "${GUESTS[@]}"; do
        name=${entry%%:*} tpl=${entry#*:}
        case $tpl in
            io) [ -e "$LAB/$name.raw" ] || qemu-img create -q -f raw "$LAB/$name.raw" 128M ;;
            *) [ -e "$LAB/$name.qcow2" ] || qemu-img create -q -f qcow2 "$LAB/$name.qcow2" 64M ;;
        esac
        if ! v dominfo "$name" >/dev/null 2>&1; then
            guest_xml "$name" "$tpl" >"$LAB/$name.xml"
            v define "$LAB/$name.xml" >/dev/null
        fi
        [ "$(v domstate "$name")" = running ] || v start "$name" >/dev/null
    done
    # the address goes with the tap when `down` destroys the guest: nothing else to undo
    if [ -e "/sys/class/net/$IO_TAP" ]; then
        ip addr replace "$IO_TAP_ADDR" dev "$IO_TAP"
        ip link set "$IO_TAP" up
    else
        log "no $IO_TAP: kvmtune-lab-io was defined before it had a NIC (lab.sh down, then up)"
    fi
}

# -- subcommands ----------------------------------------------------------------------------

# Under `set -o pipefail`, never end a pipeline with `grep -q` (or `head`): it exits at its
# first match, the writer dies of SIGPIPE and the whole pipeline counts as failed. These
# helpers capture a command's output first and test it afterwards.
installed() {   # package is installed
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [[ $status == *"install ok installed"* ]]
}

candidate() {   # apt knows an installable version of the package
    local policy
    policy=$(apt-cache policy "$1" 2>/dev/null) || return 1
    [[ $policy =~ Candidate:\ [0-9] ]]
}

first_file() {   # the first existing path among the arguments (a glob's expansion)
    local f
    for f in "$@"; do [ -e "$f" ] && { echo "$f"; return 0; }; done
    return 0
}

cmd_can_run() {
    [ "$(id -u)" = 0 ] || { echo "lab: skipped: not root (the lab tier needs root)"; exit 1; }
    [ -r /etc/debian_version ] && command -v apt-get >/dev/null ||
        { echo "lab: skipped: not a Debian machine"; exit 1; }
    installed qemu-system-x86 && return 0
    candidate qemu-system-x86 && return 0
    # A fresh machine may have no package lists yet: fetch them once and ask again.
    apt-get update -qq >/dev/null 2>&1 || true
    candidate qemu-system-x86 ||
        { echo "lab: skipped: qemu-system-x86 is not installable here (apt-cache policy has no candidate)"; exit 1; }
}

cmd_owns_libvirtd() {   # exit 0 when the running libvirtd is the one `up` started
    daemon_pid libvirtd >/dev/null && return 0
    if answering; then
        echo "lab: the libvirtd answering on $URI was not started by lab.sh (no live pid in $LAB/libvirtd.pid)"
    else
        echo "lab: no libvirtd started by lab.sh is running"
    fi
    exit 1
}

cmd_up() {
    cmd_can_run
    mkdir -p "$LAB"
    prepare_host
    prepare_kernel
    start_libvirtd
    start_guests
    log "up: ${GUESTS[*]%%:*}"
}

cmd_down() {
    [ "$(id -u)" = 0 ] || die "down needs root"
    [ -d "$LAB" ] || return 0
    # Guests still running without our libvirtd: bring it back so they are destroyed cleanly.
    if ! answering && compgen -G "/run/libvirt/qemu/kvmtune-lab-*.pid" >/dev/null; then
        start_libvirtd
    fi
    if answering; then
        local name
        for name in $(v list --all --name | grep '^kvmtune-lab-' || true); do
            v destroy "$name" >/dev/null 2>&1 || true
            v undefine "$name" >/dev/null
        done
    fi
    stop_daemon libvirtd
    stop_daemon virtlogd
    if [ -e "$LAB/hugetlbfs.mounted" ]; then
        umount /dev/hugepages && rm -f "$LAB/hugetlbfs.mounted"
    fi
    if [ -e "$LAB/hugepages.before" ]; then
        cat "$LAB/hugepages.before" >/proc/sys/vm/nr_hugepages && rm -f "$LAB/hugepages.before"
    fi
    rm -f "$LAB"/kvmtune-lab-*.{qcow2,raw,xml,console}
    log "down"
}

# The scale lab: BIOS-only guests (SeaBIOS finds no OS and idles; ~41 MiB RSS, ~1-2 % of a CPU
# each under TCG), one vCPU and a small empty disk each, so 50 fit this 2-CPU machine; a virtio
# balloon each, as virt-install gives a guest (its stats are a QEMU monitor query per guest).
scale_name() { printf 'kvmtune-lab-scale-%02d' "$1"; }

cmd_scale_up() {
    local n=${1:-50} i name
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "scale-up: N must be 1-200, not '$n'"
    cmd_up
    for i in $(seq "$n"); do
        scale_guest_up "$(scale_name "$i")" &
        # a few at a time: each start waits on libvirtd and QEMU, not on this machine's CPUs
        [ $((i % SCALE_PARALLEL)) = 0 ] && wait_all
    done
    wait_all
    log "scale: $n guests up ($(scale_name 1) .. $(scale_name "$n"))"
}

SCALE_PARALLEL=6

wait_all() {   # wait for every background job; fail if one did
    local rc=0 pid
    for pid in $(jobs -p); do wait "$pid" || rc=1; done
    [ $rc = 0 ] || die "a scale guest could not be started or removed (above)"
}

scale_guest_up() {
    local name=$1
    [ -e "$LAB/$name.qcow2" ] || qemu-img create -q -f qcow2 "$LAB/$name.qcow2" 16M
    if ! v dominfo "$name" >/dev/null 2>&1; then
        guest_xml "$name" plain | sed -e "s|<vcpu placement='static'>2</vcpu>|<vcpu placement='static'>1</vcpu>|" \
            -e "s|<memory unit='MiB'>128</memory>|<memory unit='MiB'>64</memory>|" \
            -e "s|<memballoon model='none'/>|<memballoon model='virtio'/>|" >"$LAB/$name.xml"
        v define "$LAB/$name.xml" >/dev/null
    fi
    [ "$(v domstate "$name")" = running ] || v start "$name" >/dev/null
}

scale_guest_down() {
    v destroy "$1" >/dev/null 2>&1 || true
    v undefine "$1" >/dev/null
    rm -f "$LAB/$1".{qcow2,xml}
}

cmd_scale_down() {
    [ "$(id -u)" = 0 ] || die "scale-down needs root"
    answering || return 0
    local name i=0
    for name in $(v list --all --name | grep '^kvmtune-lab-scale-' || true); do
        scale_guest_down "$name" &
        i=$((i + 1))
        [ $((i % SCALE_PARALLEL)) = 0 ] && wait_all
    done
    wait_all
    log "scale: down"
}

cmd_status() {
    local ok=0 d pid entry name state
    for d in virtlogd libvirtd; do
        if pid=$(daemon_pid "$d"); then echo "$d: pid $pid"; else echo "$d: not running (lab.sh)"; ok=1; fi
    done
    echo "hugepages: $(cat /proc/sys/vm/nr_hugepages) total, $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages) free" \
        "($(mountpoint -q /dev/hugepages && echo mounted || echo NOT mounted) on /dev/hugepages)"
    for entry in "${GUESTS[@]}"; do
        name=${entry%%:*}
        state=$(v domstate "$name" 2>/dev/null || echo missing)
        echo "$name: $state"
        [ "$state" = running ] || ok=1
    done
    local scale
    scale=$(v list --name | grep -c '^kvmtune-lab-scale-' || true)
    [ "$scale" = 0 ] || echo "scale guests running: $scale"
    return $ok
}

case ${1:-} in
    can-run) cmd_can_run ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    scale-up) cmd_scale_up "${2:-50}" ;;
    scale-down) cmd_scale_down ;;
    start-libvirtd) mkdir -p "$LAB"; start_libvirtd ;;
    stop-libvirtd) cmd_owns_libvirtd >&2; stop_daemon libvirtd ;;
    owns-libvirtd) cmd_owns_libvirtd ;;
    -h|--help|help)
        sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' ;;
    *) echo "usage: lab.sh can-run|up|down|status|scale-up [N]|scale-down|start-libvirtd|stop-libvirtd|owns-libvirtd (--help)" >&2; exit 2 ;;
esac
