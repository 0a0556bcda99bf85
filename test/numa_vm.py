#!/usr/bin/env python3
"""NUMA placement on a real two-node kernel, in a virtual machine.

Boots Debian's kernel under qemu-system-x86_64 (software emulation: TCG) with
4 vCPUs on two memory nodes (node 0: CPU 0, node 1: CPUs 1-3, 512 MiB each)
and an initramfs holding busybox and the statically linked test program
(numa_guest.c), which checks where the kernel put every replica and part
(move_pages), which memory each thread read (getcpu), and that every result is
bitwise the unplaced handle's. The scalar-family result hashes the guest
prints must equal the same program's run on this (one-node) machine.

Usage: numa_vm.py GUEST_PROGRAM
Exit status 0: passed; 1: failed; 77: cannot run here (meson's skip), with the
reason on stdout. What it needs, and where it looks (scripts/install-deps
--numa installs all three):
  qemu-system-x86_64       on PATH
  a kernel image           $AMXQ_NUMA_KERNEL, else .cache/numa-vm/vmlinuz in
                           the source tree, else the newest /boot/vmlinuz-*
  a static busybox         $AMXQ_NUMA_BUSYBOX, else /bin/busybox (busybox-static)
"""
import glob
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 170  # the suite's budget is 3 minutes; a boot takes ~25 s here


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def is_static_elf(path):
    """An ELF file without a program interpreter (PT_INTERP)."""
    with open(path, "rb") as f:
        h = f.read(64)
        if h[:4] != b"\x7fELF" or h[4] != 2:
            return False
        phoff = int.from_bytes(h[32:40], "little")
        phentsize = int.from_bytes(h[54:56], "little")
        phnum = int.from_bytes(h[56:58], "little")
        f.seek(phoff)
        for _ in range(phnum):
            if int.from_bytes(f.read(phentsize)[:4], "little") == 3:  # PT_INTERP
                return False
    return True


def find_kernel():
    env = os.environ.get("AMXQ_NUMA_KERNEL")
    if env:
        return env if os.path.isfile(env) else None
    local = os.path.join(ROOT, ".cache", "numa-vm", "vmlinuz")
    if os.path.isfile(local):
        return local
    boot = sorted(glob.glob("/boot/vmlinuz-*"))
    return boot[-1] if boot and os.access(boot[-1], os.R_OK) else None


def cpio_newc(entries):
    """An initramfs: entries are (name, mode, data or None for a directory)."""
    out = bytearray()

    def add(name, mode, data):
        nb = name.encode() + b"\0"
        fields = [len(out) // 4 + 1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0]
        out.extend(b"070701" + b"".join(b"%08X" % v for v in fields) + nb)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for name, mode, data in entries:
        add(name, mode, data if data is not None else b"")
    add("TRAILER!!!", 0, b"")
    return bytes(out)


INIT = """#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
echo "GUEST-START"
/numa_guest
echo "GUEST-EXIT $?"
/bin/busybox poweroff -f
"""


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    guest = sys.argv[1]
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        skip("qemu-system-x86_64 is not installed (scripts/install-deps --numa installs it)")
    kernel = find_kernel()
    if not kernel:
        skip("no kernel image: set AMXQ_NUMA_KERNEL or run scripts/install-deps --numa "
             "(it unpacks Debian's linux-image-amd64 into .cache/numa-vm)")
    busybox = os.environ.get("AMXQ_NUMA_BUSYBOX", "/bin/busybox")
    if not os.path.isfile(busybox) or not is_static_elf(busybox):
        skip(f"no statically linked busybox at {busybox} (Debian: busybox-static)")
    if not is_static_elf(guest):
        print(f"FAIL: {guest} is not statically linked")
        return 1

    host = subprocess.run([guest, "hash"], capture_output=True, text=True, timeout=120)
    if host.returncode != 0:
        print(host.stdout, host.stderr)
        print("FAIL: the one-node run on this machine failed")
        return 1
    want = [l for l in host.stdout.splitlines() if l.startswith("hash ")]

    with open(guest, "rb") as f:
        guest_bytes = f.read()
    with open(busybox, "rb") as f:
        busybox_bytes = f.read()
    x = stat.S_IFREG | 0o755
    initrd = cpio_newc([("bin", stat.S_IFDIR | 0o755, None), ("bin/busybox", x, busybox_bytes),
                        ("init", x, INIT.encode()), ("numa_guest", x, guest_bytes)])
    with tempfile.TemporaryDirectory(prefix="amxq-numa-vm-") as tmp:
        rd = os.path.join(tmp, "initrd.cpio")
        with open(rd, "wb") as f:
            f.write(initrd)
        cmd = [qemu, "-accel", "tcg", "-cpu", "max", "-smp", "4", "-m", "1024",
               "-object", "memory-backend-ram,id=m0,size=512M",
               "-object", "memory-backend-ram,id=m1,size=512M",
               "-numa", "node,nodeid=0,cpus=0,memdev=m0",
               "-numa", "node,nodeid=1,cpus=1-3,memdev=m1",
               "-kernel", kernel, "-initrd", rd,
               "-append", "console=ttyS0 panic=-1 rdinit=/init quiet",
               "-nographic", "-nodefaults", "-no-reboot", "-serial", "stdio"]
        print("running:", " ".join(cmd))
        t0 = time.time()
        try:
            run = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
            out = run.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
            print(out)
            print(f"FAIL: the virtual machine did not finish in {TIMEOUT_S} s")
            return 1
    out = out.replace("\r", "")
    start = out.find("GUEST-START")
    print(out[start:] if start >= 0 else out)
    print(f"virtual machine: {time.time() - t0:.1f} s")
    if start < 0:
        print("FAIL: the guest did not start the test program")
        return 1
    if "GUEST-EXIT 0" not in out:
        print("FAIL: the test program failed in the guest")
        return 1
    got = [l.strip() for l in out.splitlines() if l.startswith("hash ")]
    if got != want:
        print("FAIL: the guest's results differ from this machine's one-node results:")
        print("want:", want)
        print("got: ", got)
        return 1
    print(f"PASS: placement checked on 2 nodes; {len(got)} result hashes equal to the one-node run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
