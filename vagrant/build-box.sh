#!/bin/sh
# Builds a Debian 12 Vagrant box for the libvirt provider from the Debian mirror,
# for machines that cannot download debian/bookworm64. Runs as root.
#
#   build-box.sh OUTPUT.box
#
# The box boots with BIOS + GRUB from a one-partition MBR disk, gets DHCP on eth0,
# and has the `vagrant` user with Vagrant's well-known insecure key and password-less
# sudo, openssh-server, and every package listed in guest-packages (so the tests'
# dependencies are cached with the box instead of installed on each boot).
#
# No loop device and no mount is used (loop partition scanning does not work
# everywhere): the filesystem is filled from a directory with `mke2fs -d`, copied
# into a partitioned raw image at 1 MiB, and GRUB's boot.img/core.img are written
# into the MBR gap with dd. The result is converted to qcow2 and packed as
# metadata.json + Vagrantfile + box.img, compressed with zstd (`vagrant box add`
# reads it directly).
#
# The box's own Vagrantfile selects QEMU's software emulation (driver "qemu"),
# since it is meant for CI machines without usable KVM; a project Vagrantfile or
# PAM_VAGRANT_DRIVER=kvm overrides that.
#
# Environment: PAM_VAGRANT_MIRROR (default http://deb.debian.org/debian).
set -eu

out=${1:?usage: build-box.sh OUTPUT.box}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${PAM_VAGRANT_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
disk_gib=8

[ "$(id -u)" -eq 0 ] || { echo "build-box.sh: must run as root" >&2; exit 1; }
for tool in debootstrap mke2fs sfdisk qemu-img zstd; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build-box.sh: missing $tool" >&2; exit 1; }
done
pubkey=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -n 1 || true)
[ -n "$pubkey" ] || { echo "build-box.sh: cannot find Vagrant's insecure public key (is vagrant installed?)" >&2; exit 1; }

outdir=$(cd "$(dirname "$out")" && pwd)
work=$(mktemp -d "$outdir/.box-build.XXXXXX")
cleanup() {
    # debootstrap may leave its mounts behind when it fails half way.
    for m in proc sys dev/pts dev; do
        umount "$work/rootfs/$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT INT TERM
rootfs=$work/rootfs

extra=$(grep -v '^[[:space:]]*#' "$here/guest-packages" | tr -s ' \n' ' ')
base=linux-image-amd64,systemd-sysv,udev,kmod,ifupdown,isc-dhcp-client,iproute2,netbase,zstd,grub-pc-bin,grub2-common,openssh-server,sudo

echo "build-box: debootstrap $suite from $mirror"
if ! debootstrap --variant=minbase --include="$base" "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    tail -n 40 "$rootfs/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    exit 1
fi

# The test packages go in with apt inside the chroot (debootstrap's own
# configuration pass does not cope with all of their maintainer scripts);
# policy-rc.d keeps their services from starting on the build host.
echo "build-box: apt-get install (guest-packages)"
printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
mount -t proc proc "$rootfs/proc"
mount --bind /dev/pts "$rootfs/dev/pts"
# shellcheck disable=SC2086
if ! chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive sh -c \
        "apt-get update -qq && apt-get install -y -q --no-install-recommends $extra" >"$work/apt.log" 2>&1; then
    tail -n 40 "$work/apt.log" >&2
    exit 1
fi
umount "$rootfs/dev/pts" "$rootfs/proc"
rm -f "$rootfs/usr/sbin/policy-rc.d"

echo "build-box: configuring the root filesystem"
uuid=$(cat /proc/sys/kernel/random/uuid)
kernel=$(cd "$rootfs/boot" && ls vmlinuz-* | sort -V | tail -n 1)
initrd=initrd.img-${kernel#vmlinuz-}
[ -f "$rootfs/boot/$initrd" ] || { echo "build-box.sh: no $initrd in the root filesystem" >&2; exit 1; }

echo "UUID=$uuid / ext4 errors=remount-ro 0 1" > "$rootfs/etc/fstab"
echo bookworm > "$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tbookworm\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$rootfs/etc/hosts"
printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' > "$rootfs/etc/network/interfaces"
cat > "$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOF
# A fresh machine-id on every boot of a new VM.
: > "$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"

chroot "$rootfs" useradd --create-home --shell /bin/bash --groups sudo vagrant
echo vagrant:vagrant | chroot "$rootfs" chpasswd 2>/dev/null
install -d -m 0700 -o 1000 -g 1000 "$rootfs/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$pubkey" "$rootfs/home/vagrant/.ssh/authorized_keys"
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > "$rootfs/etc/sudoers.d/vagrant"
chmod 0440 "$rootfs/etc/sudoers.d/vagrant"
# Reverse DNS lookups of the host only slow down every `vagrant ssh`.
echo 'UseDNS no' > "$rootfs/etc/ssh/sshd_config.d/10-vagrant.conf"

# GRUB: modules where core.img's prefix points, a fixed menu, and a core image
# that already contains what it needs to read the menu and boot Linux.
mkdir -p "$rootfs/boot/grub/i386-pc"
cp "$rootfs"/usr/lib/grub/i386-pc/*.mod "$rootfs"/usr/lib/grub/i386-pc/*.lst "$rootfs/boot/grub/i386-pc/"
cat > "$rootfs/boot/grub/grub.cfg" <<EOF
set timeout=0
set default=0
search --no-floppy --fs-uuid --set=root $uuid
menuentry "Debian 12" {
    linux /boot/$kernel root=UUID=$uuid ro console=tty0 console=ttyS0,115200n8 net.ifnames=0 biosdevname=0
    initrd /boot/$initrd
}
EOF
chroot "$rootfs" grub-mkimage -O i386-pc -o /tmp/core.img -p '(hd0,msdos1)/boot/grub' \
    biosdisk part_msdos ext2 search search_fs_uuid normal configfile linux boot gzio
mv "$rootfs/tmp/core.img" "$work/core.img"
cp "$rootfs/usr/lib/grub/i386-pc/boot.img" "$work/boot.img"

chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs/debootstrap"

echo "build-box: building the disk image"
# Partition 1 starts at sector 2048; core.img lives in sectors 1..2047.
core_sectors=$(( ($(stat -c %s "$work/core.img") + 511) / 512 ))
[ "$core_sectors" -lt 2047 ] || { echo "build-box.sh: core.img too large" >&2; exit 1; }
truncate -s $((disk_gib * 1024 - 1))M "$work/fs.img"
mke2fs -q -t ext4 -F -U "$uuid" -L root -d "$rootfs" "$work/fs.img"
rm -rf "$rootfs"
truncate -s ${disk_gib}G "$work/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$work/disk.raw"
dd if="$work/fs.img" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$work/fs.img"
dd if="$work/boot.img" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$work/disk.raw" bs=512 seek=1 conv=notrunc status=none

mkdir "$work/box"
qemu-img convert -O qcow2 "$work/disk.raw" "$work/box/box.img"
rm -f "$work/disk.raw"
printf '{"provider":"libvirt","format":"qcow2","virtual_size":%d}\n' "$disk_gib" > "$work/box/metadata.json"
cat > "$work/box/Vagrantfile" <<'EOF'
# Defaults of the locally built Debian 12 box (vagrant/build-box.sh).
Vagrant.configure("2") do |config|
  config.vm.boot_timeout = 900
  # The box only ever runs on test machines; the well-known key is kept, which
  # saves the key rotation on every boot.
  config.ssh.insert_key = false
  config.vm.provider :libvirt do |lv|
    # QEMU software emulation (TCG): works without (nested) KVM.
    lv.driver = "qemu"
    # The host CPU model advertises features TCG does not implement.
    lv.cpu_mode = "custom"
    lv.cpu_model = "qemu64"
    lv.memory = 1024
    lv.cpus = 2
    lv.graphics_type = "none"
    lv.video_type = "none"
  end
end
EOF

echo "build-box: packing"
tar -C "$work/box" -cf - metadata.json Vagrantfile box.img | zstd -q -3 -T0 -o "$work/out.box"
mv -f "$work/out.box" "$out"
echo "build-box: wrote $out ($(du -h "$out" | cut -f1))"
