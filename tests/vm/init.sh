#!/bin/busybox sh
# /init of cgman's test guest (tests/vm/vm.py builds the initramfs around it).
# It makes the host's root the guest's, read-only with a throw-away tmpfs on
# top, mounts the project share read-write at its host path, then either runs
# the command itself (exec mode: cgroup2 only, command in the root cgroup) or
# hands over to the host's systemd as PID 1 (systemd mode).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "cgman-vm init: $*" > /dev/console; sleep 1; poweroff -f; }

# virtio, 9p and overlay are modules in Debian's kernel; vm.py lists them in
# dependency order, so insmod needs no modules.dep.
for module in $(cat /modules.order); do
    insmod "/modules/$module" || fail "insmod $module"
done

p9="trans=virtio,version=9p2000.L,msize=512000"
mkdir -p /ctl /lower /rw /newroot
mount -t 9p -o "$p9" vmctl /ctl || fail "mount the control share"
. /ctl/vm.conf                                  # VM_MODE, VM_SHARE
# cache=loose: the host root does not change while the guest runs.
mount -t 9p -o "$p9,cache=loose,ro" hostroot /lower || fail "mount the host root"
mount -t tmpfs -o mode=755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
    || fail "mount the overlay"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /newroot/run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /newroot/tmp
mkdir -p /newroot/run/vmctl
mount --move /ctl /newroot/run/vmctl
mkdir -p "/newroot$VM_SHARE"                    # after /tmp: a share below /tmp stays visible
mount -t 9p -o "$p9" vmshare "/newroot$VM_SHARE" || fail "mount the project share"
: > /newroot/etc/fstab                          # the host's mounts mean nothing here
rm -f /newroot/.dockerenv                       # systemd would think it runs in a container
echo cgman-vm > /newroot/etc/hostname

if [ "$VM_MODE" = systemd ]; then
    cp /newroot/run/vmctl/units/* /newroot/etc/systemd/system/
    umount /proc /sys
    mount --move /dev /newroot/dev
    exec switch_root /newroot /lib/systemd/systemd --unit=cgman-vm.target
fi

# Exec mode: the API file systems as systemd mounts them, with cgroup2 alone.
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /newroot/sys/fs/cgroup
mount --move /dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
hostname cgman-vm
ip link set lo up
chroot /newroot /bin/bash /run/vmctl/wrapper
sync
poweroff -f
