/**
 * The /init of the recording initramfs (run by busybox sh as PID 1). It loads the device drivers, brings the NICs up
 * and reads a block from each disk so every device requests its interrupts and takes at least one, then prints each
 * artefact between `=== irqpath:NAME ===` markers (src/tools/qemu-recording.ts splits on them), prints the ready
 * marker, waits for the host to read the machine through the monitor (it answers `go` on the serial port), and
 * powers off.
 */
import { HARNESS_BOOT, SECTION_PREFIX, READY_SECTION } from '../../src/tools/qemu-recording.ts';

/** Loaded in this order; the order is recorded in provenance.json (guestModules), as the IRQ allocation follows it. */
export const GUEST_MODULES = [...HARNESS_BOOT.modules];

export function initScript(): string {
  const sec = (name: string) => `echo "${SECTION_PREFIX}${name} ==="`;
  return `#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Keep kernel messages off the console from here on: the sections below must not be interleaved with printk output.
# Everything the kernel says is in the dmesg section.
dmesg -n 1
for m in ${GUEST_MODULES.join(' ')}; do modprobe $m || echo "irqpath: modprobe $m failed"; done
sleep 2
for n in /sys/class/net/*; do ip link set \${n##*/} up; done
sleep 1
for b in /dev/nvme0n1 /dev/sda /dev/sdb; do [ -e $b ] && dd if=$b of=/dev/null bs=4096 count=1 2>/dev/null; done
sleep 1
${sec('uname')}
uname -a
${sec('cmdline')}
cat /proc/cmdline
${sec('cpuinfo-flags')}
grep -m1 '^flags' /proc/cpuinfo
${sec('interrupts')}
cat /proc/interrupts
${sec('irq-affinity')}
for d in /proc/irq/*/; do
  i=\${d%/}; i=\${i##*/}
  echo "$i effective=$(cat $d/effective_affinity_list 2>/dev/null) smp=$(cat $d/smp_affinity_list 2>/dev/null)"
done
${sec('reserved-regions')}
for g in /sys/kernel/iommu_groups/*; do
  [ -e $g/reserved_regions ] || continue
  while read l; do echo "\${g##*/} $l"; done < $g/reserved_regions
  for d in $g/devices/*; do echo "\${g##*/} device \${d##*/}"; done
done
${sec('pci-devices')}
for d in /sys/bus/pci/devices/*; do
  msi=""
  [ -d $d/msi_irqs ] && msi=$(ls $d/msi_irqs | sort -n | tr '\\n' ',')
  drv=""
  [ -e $d/driver ] && drv=$(basename $(readlink $d/driver))
  echo "\${d##*/} vendor=$(cat $d/vendor) device=$(cat $d/device) class=$(cat $d/class) irq=$(cat $d/irq) msi_irqs=\${msi%,} driver=$drv"
done
${sec('pci-config')}
for d in /sys/bus/pci/devices/*; do
  echo "device \${d##*/}"
  dd if=$d/config bs=256 count=1 2>/dev/null | od -An -tx1 -v
  echo "resource"
  cat $d/resource
done
${sec('dmesg')}
dmesg
${sec(READY_SECTION)}
read -t 300 answer
${sec('end')}
poweroff -f
`;
}
