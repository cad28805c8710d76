"""Simulated power cuts for integration tests, with the LD_PRELOAD shim tests/powercut/powercut.so.

A run: `Disk(directory, seed)`; `env = disk.start()` gives the environment for the process (the
shim logs every change it makes to the directory's files, and which of them it synced); SIGKILL
the process at any instant; `disk.cut()` rewrites the directory as a disk would hold it after a
power loss at that instant: each file's last synced content, plus a random (seeded) subset of the
writes made since, some torn at 512-byte sector boundaries; file creations, unlinks and renames
since the directory's last fsync survive as a random prefix. Then `start()` again.

The model is the one of SQLite's crash-test VFS (src/test6.c) and of LazyFS: the disk holds what
was synced; of the rest any part may survive, in sector units, in any mix (a drive reorders its
writes). Only files directly in the directory are modelled; "-shm" files are dropped (SQLite
rebuilds its shared-memory index after a crash).
"""

import os
import pathlib
import random
import shutil
import struct

import fogtest

SECTOR = 512
_HEADER = struct.Struct("<4sIQQII")
CREATE, WRITE, TRUNCATE, SYNC, DIRSYNC, UNLINK, RENAME = range(1, 8)
MODES = ("drop_all", "keep_all", "random")


def shim_path():
    return fogtest.build_path("tests", "powercut", "powercut.so")


def read_log(path):
    """The records of a shim log: (type, path, path2, offset, length, data). A record cut short by
    the SIGKILL is left out."""
    data = pathlib.Path(path).read_bytes() if pathlib.Path(path).exists() else b""
    out, pos = [], 0
    while pos + _HEADER.size <= len(data):
        magic, kind, offset, length, plen, p2len = _HEADER.unpack_from(data, pos)
        if magic != b"PCUT":
            raise ValueError(f"powercut log {path}: bad record at {pos}")
        body = pos + _HEADER.size
        payload_len = length if kind == WRITE else 0
        end = body + plen + p2len + payload_len
        if end > len(data):
            break
        p = data[body:body + plen].decode()
        p2 = data[body + plen:body + plen + p2len].decode()
        out.append((kind, p, p2, offset, length, data[body + plen + p2len:end]))
        pos = end
    return out


class _Inode:
    def __init__(self, content=b"", unmodelled=None):
        self.unmodelled = unmodelled  # a file the shim did not see made (e.g. by stdio): its name
        self.durable = bytearray(content)
        self.pending = []  # ("w", offset, bytes) or ("t", size), in order

    def apply(self, image, op, sectors=None):
        if op[0] == "t":
            del image[op[1]:]
            if len(image) < op[1]:
                image.extend(b"\0" * (op[1] - len(image)))
            return
        _, offset, data = op
        if len(image) < offset + len(data) and sectors is None:
            image.extend(b"\0" * (offset + len(data) - len(image)))
        for lo, hi in _sector_spans(offset, len(data)):
            if sectors is not None and not sectors(lo):
                continue
            if len(image) < hi:
                image.extend(b"\0" * (hi - len(image)))
            image[lo:hi] = data[lo - offset:hi - offset]


def _sector_spans(offset, length):
    """[lo, hi) pieces of a write, split at sector boundaries of the file."""
    pos, end = offset, offset + length
    while pos < end:
        nxt = min(end, (pos // SECTOR + 1) * SECTOR)
        yield pos, nxt
        pos = nxt


class Disk:
    """The simulated disk under one directory. Not thread-safe."""

    def __init__(self, directory, seed, log_path=None):
        self.dir = pathlib.Path(directory).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(seed)
        self.log = pathlib.Path(log_path) if log_path else self.dir.parent / f"{self.dir.name}.powercut-log"
        self.base = {}
        self.cuts = []  # one dict per cut: mode, records, unsynced writes, kept, torn

    def start(self):
        """Snapshots the directory as the durable state; returns the environment for the process."""
        self.base = {p.name: p.read_bytes() for p in self.dir.iterdir() if p.is_file() and not p.name.endswith("-shm")}
        self.log.unlink(missing_ok=True)
        env = {"LD_PRELOAD": str(shim_path()), "POWERCUT_DIR": str(self.dir), "POWERCUT_LOG": str(self.log),
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        return env

    def cut(self, mode=None):
        """Call after the process is dead: rewrites the directory as after a power loss. Returns
        the cut's report (mode, unsynced writes seen, kept whole, torn, dropped)."""
        mode = mode or self.rng.choice(MODES)
        records = read_log(self.log)
        inodes = {name: _Inode(content) for name, content in self.base.items()}
        cache = dict(inodes)  # name -> inode, as the process saw it
        durable_names = dict(inodes)
        ns_pending = []
        for kind, p, p2, offset, length, data in records:
            if kind not in (CREATE, DIRSYNC) and p not in cache:
                cache[p] = _Inode(unmodelled=p)
            if kind == CREATE:
                cache[p] = _Inode()
                ns_pending.append(("link", p, cache[p]))
            elif kind == WRITE:
                cache[p].pending.append(("w", offset, data))
            elif kind == TRUNCATE:
                cache[p].pending.append(("t", offset))
            elif kind == SYNC:
                node = cache[p]
                for op in node.pending:
                    node.apply(node.durable, op)
                node.pending = []
            elif kind == DIRSYNC:
                durable_names = dict(cache)
                ns_pending = []
            elif kind == UNLINK:
                cache.pop(p, None)
                ns_pending.append(("unlink", p, None))
            elif kind == RENAME:
                node = cache.pop(p)
                cache[p2] = node
                ns_pending.append(("rename", p, (p2, node)))
        keep_ns = {"drop_all": 0, "keep_all": len(ns_pending)}.get(mode, self.rng.randint(0, len(ns_pending)))
        for op, p, arg in ns_pending[:keep_ns]:
            if op == "link":
                durable_names[p] = arg
            elif op == "unlink":
                durable_names.pop(p, None)
            else:
                durable_names.pop(p, None)
                durable_names[arg[0]] = arg[1]
        report = {"mode": mode, "records": len(records), "unsynced": 0, "kept": 0, "torn": 0, "dropped": 0}
        images = {}
        done = set()
        for name, node in durable_names.items():
            if id(node) not in done:
                done.add(id(node))
                node.image = self._survivor(node, mode, report)
            images[name] = node.image
        # Files made behind the shim's back (stdio calls the kernel directly) keep what the process
        # left in them: only what the shim saw is modelled.
        seen = {n for n in cache} | {n for n in durable_names} | set(self.base)
        seen |= {p for _, p, _, _, _, _ in records} | {p2 for _, _, p2, _, _, _ in records if p2}
        for p in self.dir.iterdir():
            if p.is_file() and p.name not in seen and not p.name.endswith("-shm"):
                images[p.name] = p.read_bytes()
        for name, node in cache.items():
            if node.unmodelled is not None and name in images and (self.dir / name).exists():
                images[name] = (self.dir / name).read_bytes()
        for p in self.dir.iterdir():
            if p.is_file():
                p.unlink()
        for name, image in images.items():
            (self.dir / name).write_bytes(bytes(image))
        self.cuts.append(report)
        return report

    def _survivor(self, node, mode, report):
        image = bytearray(node.durable)
        for op in node.pending:
            report["unsynced"] += 1
            choice = {"drop_all": 0, "keep_all": 1}.get(mode)
            if choice is None:
                choice = self.rng.randrange(3)
            if choice == 0:
                report["dropped"] += 1
            elif choice == 1:
                report["kept"] += 1
                node.apply(image, op)
            elif op[0] == "t":
                report["dropped"] += 1
            else:
                report["torn"] += 1
                node.apply(image, op, sectors=lambda _lo: self.rng.random() < 0.5)
        return image


def copy_for_check(directory, into):
    """A copy of the directory to check (so opening it there changes nothing the process sees)."""
    into = pathlib.Path(into)
    shutil.rmtree(into, ignore_errors=True)
    shutil.copytree(directory, into)
    return into


class Faults:
    """Injected disk errors for a process started with `env(disk_env)`: set_write(errno) makes the
    shim fail every write and truncation of the watched files with that errno, set_sync(errno)
    every fsync/fdatasync; 0 heals. Takes effect at once (a shared mapping)."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.path.write_bytes(b"\0" * 16)

    def env(self, disk_env):
        return {**disk_env, "POWERCUT_FAULTS": str(self.path)}

    def _set(self, index, err):
        with open(self.path, "r+b") as f:
            f.seek(index)
            f.write(bytes([err]))

    def set_write(self, err):
        self._set(0, err)

    def set_sync(self, err):
        self._set(1, err)


class Tmpfs:
    """A small tmpfs mounted at `path` (root only: `available()` says why not)."""

    def __init__(self, path, size):
        self.path = pathlib.Path(path)
        self.size = size
        self.mounted = False

    @staticmethod
    def available():
        if os.geteuid() != 0:
            return "mounting a small tmpfs needs root (CI runs as root)"
        if not shutil.which("mount"):
            return "no mount(8)"
        return None

    def mount(self):
        import subprocess
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", str(self.path)], check=True)
        self.mounted = True
        return self

    def unmount(self):
        import subprocess
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False)
            self.mounted = False

    def fill(self, name="filler"):
        """Writes a file until the file system is full; returns its path."""
        p = self.path / name
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for size in (65536, 4096, 512, 1):  # down to the last partial block
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)
        return p
