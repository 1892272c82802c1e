#!/usr/bin/env bash
# Build the I/O guest's boot files from a downloaded Debian kernel package:
#   build-initramfs.sh KERNEL.deb OUTDIR   ->  OUTDIR/vmlinuz, OUTDIR/initrd.gz
# The initramfs is busybox-static plus the virtio modules (block, net and balloon), insmod'ed in dependency order,
# and an init that loops direct-I/O dd writes and reads on /dev/vda.
set -euo pipefail
deb=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dpkg-deb -x "$deb" "$work/x"
cp "$work/x"/boot/vmlinuz-* "$out/vmlinuz.tmp"

root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
         failover net_failover virtio_net virtio_balloon; do
    # Debian 12 ships plain .ko; newer kernels compress them (.ko.xz / .ko.zst).
    f=$(find "$work/x/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n1)
    if [ -z "$f" ]; then
        echo "lab: $m not a module in $deb (built in?), skipping" >&2
        continue
    fi
    case $f in
        *.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
        *.zst) zstd -dc "$f" >"$root/lib/modules/$m.ko" ;;
        *) cp "$f" "$root/lib/modules/$m.ko" ;;
    esac
done
install -m 0755 "$here/init.sh" "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.gz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
