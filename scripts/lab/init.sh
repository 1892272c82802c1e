#!/bin/busybox sh
# /init of the I/O guest: load virtio_blk, virtio_net (eth0 up: it takes the ARP requests
# the host sends into its tap) and virtio_balloon (`virsh setmem` moves its balloon), then
# read and write the disk forever with O_DIRECT so every byte crosses the virtio queue (and
# the host's throttle).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
         failover net_failover virtio_net virtio_balloon; do
    [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko
done
ip link set eth0 up 2>/dev/null || echo "kvmtune-lab-io: no eth0"
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
echo "kvmtune-lab-io: dd loop on /dev/vda"
# Paced (~30 MB/s on average, not flat out) so the guest does not take a whole host CPU
# on a small shared machine; still far above the 1 MB/s throttle the tests set.
while true; do
    dd if=/dev/zero of=/dev/vda bs=1M count=8 oflag=direct 2>/dev/null
    dd if=/dev/vda of=/dev/null bs=1M count=8 iflag=direct 2>/dev/null
    sleep 0.5
done
