#!/usr/bin/python3
"""Download speed of swarm against libtorrent and aria2c, on loopback, in one run.

Makes a random payload and its torrent (`swarm-cli create`), starts a real opentracker
(whitelist mode) and K seeders (libtorrent or aria2c, each bound to its own 127.0.0.x), then
downloads the torrent R times with each client -- `swarm-cli download` (embedded cluster), a
libtorrent downloader and `aria2c` -- alternating (the order rotates every round), every
download into a fresh folder from a fresh 127.x source address, every download SHA-256-checked
against the payload. Prints each download, then per client the medians and swarm's ratios.

Runs under Debian's /usr/bin/python3: python3-libtorrent exists only for that interpreter.

How each figure is measured (the same way for all three clients):
  MB/s         payload bytes (1 MB = 1e6 B) / wall clock of the whole command, from the
               spawn of the client to its exit (start-up, tracker, shutdown included).
  first byte   from the spawn of the client until one of the client's TCP connections
               (source address = the round's fresh 127.x address) has received more bytes
               than the handshake, bitfield and an extension handshake could hold plus one
               16 KiB block: i.e. the first payload block has arrived in the client's kernel
               socket buffer. Polled with `ss -tin` every 10 ms, so it is +-~15 ms; the
               polling stops at the first hit. (Disk-based methods fail under preallocation,
               and swarm's progress stream is sent only once a second.)
  CPU s/GB     user+system CPU seconds of the client's whole process tree per 1e9 payload
               bytes. The client runs under a wrapper (`_measure`) that is a child
               subreaper (PR_SET_CHILD_SUBREAPER): every descendant, even an orphaned one,
               is reparented to it and waited for, so getrusage(RUSAGE_CHILDREN) covers the
               whole tree. A descendant still alive 30 s after the client exits is a failure.
  peak RSS     ru_maxrss of RUSAGE_CHILDREN: the peak resident set of the largest single
               process in the tree (libtorrent maps the files: its page cache pages count).

Any client failure, timeout, leftover process or byte mismatch ends the run with exit 1.

  bench/download_speed.py [--size-mib 1024] [--piece-kib 1024] [--files 1] [--rounds 3]
      [--seeders 3] [--seeder-kind libtorrent|aria2] [--clients swarm,libtorrent,aria2c]
      [--workers N] [--cli PATH] [--no-build] [--timeout 600] [--keep]
"""

import argparse
import ctypes
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELF = os.path.abspath(__file__)
PY = "/usr/bin/python3"  # the interpreter that has the libtorrent bindings
CLIENTS = ("swarm", "libtorrent", "aria2c")


def die(msg):
    print(f"download_speed: FAILED: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def free_port(ip="127.0.0.1"):
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- libtorrent peers (run as `download_speed.py _lt_seed|_lt_download ...`) ----------------

def lt_session(ip, port):
    import libtorrent as lt
    return lt.session({
        "listen_interfaces": f"{ip}:{port}",
        "outgoing_interfaces": ip,
        "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "enable_incoming_tcp": True, "enable_outgoing_tcp": True,
        # plaintext only: protocol encryption costs 30-50 % on loopback
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.disabled),
        "allowed_enc_level": int(lt.enc_level.plaintext),
        "allow_multiple_connections_per_ip": True,
        "alert_mask": int(lt.alert.category_t.error_notification
                          | lt.alert.category_t.status_notification),
    })


def lt_add(ses, torrent, save_path, seed):
    import libtorrent as lt
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save_path
    if seed:
        atp.flags |= lt.torrent_flags.seed_mode  # data made by us: no re-hash at start
    return ses.add_torrent(atp)


def lt_errors(ses):
    import libtorrent as lt
    fatal = (lt.torrent_error_alert, lt.file_error_alert, lt.listen_failed_alert)
    return [a.message() for a in ses.pop_alerts() if isinstance(a, fatal)]


def lt_seed(torrent, save_path, ip, port):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    ses = lt_session(ip, port)
    lt_add(ses, torrent, save_path, seed=True)
    while not stop:
        for m in lt_errors(ses):
            print(f"libtorrent seeder {ip}: {m}", file=sys.stderr, flush=True)
        time.sleep(0.5)
    del ses


def lt_download(torrent, save_path, ip):
    ses = lt_session(ip, 0)
    h = lt_add(ses, torrent, save_path, seed=False)
    first = None
    while True:
        errors = lt_errors(ses)
        if errors:
            print("libtorrent downloader: " + "; ".join(errors), file=sys.stderr)
            sys.exit(1)
        st = h.status()
        if st.errc.value():
            print(f"libtorrent downloader: {st.errc.message()}", file=sys.stderr)
            sys.exit(1)
        if first is None and st.total_done > 0:
            first = time.monotonic()  # logged as a cross-check of the `ss` first-byte figure
            print(f"libtorrent downloader: first payload bytes at monotonic {first:.3f}",
                  file=sys.stderr)
        if st.is_seeding:
            break
        time.sleep(0.02)
    print(f"libtorrent downloader: complete, {st.total_wanted_done} bytes", file=sys.stderr)
    del h
    del ses  # the session's destructor flushes and closes the files


# --- the rusage wrapper (run as `download_speed.py _measure OUT.json -- CMD...`) ------------

def measure(out_path, cmd):
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        die("prctl(PR_SET_CHILD_SUBREAPER) failed")
    t0 = time.monotonic()
    child = subprocess.Popen(cmd)
    term = []

    def on_term(*_):
        term.append(1)
        try:
            os.kill(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    while True:
        try:
            _, status = os.waitpid(child.pid, 0)
            break
        except InterruptedError:
            continue
    t1 = time.monotonic()
    child.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
    # Reap every other descendant (orphans come to us): their rusage joins RUSAGE_CHILDREN.
    leftover = []
    deadline = time.monotonic() + (5 if term else 30)
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            continue
        if time.monotonic() > deadline:
            for p in children_of(os.getpid()):
                leftover.append(proc_cmdline(p))
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = float("inf")
        time.sleep(0.05)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out_path, "w") as f:
        json.dump({"t0": t0, "t1": t1, "rc": child.returncode, "cpu": ru.ru_utime + ru.ru_stime,
                   "maxrss_kib": ru.ru_maxrss, "inblock": ru.ru_inblock, "leftover": leftover}, f)


def children_of(ppid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == ppid:
                    kids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return str(pid)


# --- the benchmark ---------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.a = args
        self.procs = []  # (name, Popen) of long-running helpers, stopped at exit
        self.current = None  # the measuring wrapper of the download under way
        self.work = None

    # lifecycle
    def cleanup(self):
        if self.current and self.current.poll() is None:
            self.current.terminate()
            try:
                self.current.wait(15)
            except subprocess.TimeoutExpired:
                self.current.kill()
                self.current.wait()
        for _, p in self.procs:
            if p.poll() is None:
                p.terminate()
        for name, p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        if self.work and not self.a.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        elif self.work:
            print(f"kept {self.work}", file=sys.stderr)

    def spawn(self, name, cmd, log):
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append((name, p))
        return p

    def check_helpers(self):
        for name, p in self.procs:
            if p.poll() is not None:
                die(f"{name} exited with status {p.returncode}; see {self.logs}")

    # setup
    def setup(self):
        a = self.a
        self.cli = a.cli or os.path.join(REPO, "bazel-bin/cli/swarm-cli")
        if not a.cli and not a.no_build:
            r = subprocess.run(["bazel", "build", "//cli:swarm-cli"], cwd=REPO,
                               capture_output=True, text=True)
            if r.returncode:
                die("bazel build //cli:swarm-cli failed:\n" + r.stderr[-3000:])
        if not os.access(self.cli, os.X_OK):
            die(f"no swarm-cli at {self.cli}")
        for tool in ("opentracker", "aria2c", "ss"):
            if not shutil.which(tool):
                die(f"{tool} is not installed (run bootstrap.sh)")
        try:
            import libtorrent  # noqa: F401
        except ImportError:
            die("no libtorrent bindings: run under /usr/bin/python3 with python3-libtorrent")

        self.work = tempfile.mkdtemp(prefix="swarm-bench.")
        os.chmod(self.work, 0o755)
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs)
        self.size = a.size_mib << 20
        self.name = "payload" if a.files > 1 else "payload.bin"

        # payload, in seed0/
        seed0 = os.path.join(self.work, "seed0")
        os.makedirs(seed0)
        if a.files > 1:
            os.makedirs(os.path.join(seed0, self.name))
            base, extra = divmod(self.size, a.files)
            self.files = [(os.path.join(self.name, f"file{i:03d}.bin"), base + (i < extra))
                          for i in range(a.files)]
        else:
            self.files = [(self.name, self.size)]
        self.want = {}
        for rel, n in self.files:
            h = hashlib.sha256()
            with open(os.path.join(seed0, rel), "wb") as f:
                while n:
                    chunk = os.urandom(min(n, 4 << 20))
                    h.update(chunk)
                    f.write(chunk)
                    n -= len(chunk)
            self.want[rel] = h.hexdigest()

        # tracker and torrent
        self.tracker_port = free_port()
        self.torrent = os.path.join(self.work, "payload.torrent")
        r = subprocess.run([self.cli, "create", os.path.join(seed0, self.name), "-t",
                            f"http://127.0.0.1:{self.tracker_port}/announce",
                            "--piece-length", str(a.piece_kib << 10), "-o", self.torrent],
                           capture_output=True, text=True)
        if r.returncode:
            die("swarm-cli create failed:\n" + r.stderr)
        import libtorrent as lt
        ti = lt.torrent_info(self.torrent)
        self.info_hash = str(ti.info_hashes().v1)
        self.num_pieces = ti.num_pieces()
        tdir = os.path.join(self.work, "tracker")
        os.makedirs(tdir)
        os.chmod(tdir, 0o755)
        with open(os.path.join(tdir, "whitelist"), "w") as f:
            f.write(self.info_hash + "\n")
        os.chmod(os.path.join(tdir, "whitelist"), 0o644)
        # As root, opentracker chroots into -d and drops to nobody: -w is relative to -d.
        self.spawn("opentracker", ["opentracker", "-i", "127.0.0.1", "-p", str(self.tracker_port),
                                   "-P", str(self.tracker_port), "-d", tdir, "-w", "whitelist"],
                   open(os.path.join(self.logs, "opentracker.log"), "w"))

        # seeders, each with its own hard-linked copy and its own 127.0.0.x
        for i in range(a.seeders):
            ip = f"127.0.0.{2 + i}"
            sdir = os.path.join(self.work, f"seed{i}")
            if i:
                for rel, _ in self.files:
                    os.makedirs(os.path.dirname(os.path.join(sdir, rel)) or sdir, exist_ok=True)
                    os.link(os.path.join(seed0, rel), os.path.join(sdir, rel))
            log = open(os.path.join(self.logs, f"seeder{i}.log"), "w")
            port = free_port(ip)
            if a.seeder_kind == "libtorrent":
                cmd = [PY, SELF, "_lt_seed", self.torrent, sdir, ip, str(port)]
            else:
                cmd = ["aria2c", f"--interface={ip}", f"--listen-port={port}",
                       "--check-integrity=true", "--seed-ratio=0.0", "--seed-time=100000",
                       "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
                       "--enable-peer-exchange=false", "--disable-ipv6=true",
                       "--console-log-level=error", "--summary-interval=0", "-d", sdir,
                       self.torrent]
            self.spawn(f"{a.seeder_kind} seeder {ip}", cmd, log)
        self.wait_for_seeders(a.seeders)

    def scrape_complete(self):
        q = urllib.parse.quote(bytes.fromhex(self.info_hash))
        body = urllib.request.urlopen(
            f"http://127.0.0.1:{self.tracker_port}/scrape?info_hash={q}", timeout=2).read()
        m = re.search(rb"8:completei(\d+)e", body)
        return int(m.group(1)) if m else 0

    def wait_for_seeders(self, n):
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            self.check_helpers()
            try:
                if self.scrape_complete() >= n:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        die(f"the tracker did not see {n} seeders within 300 s; see {self.logs}")

    # one download
    def command(self, client, out, ip):
        if client == "swarm":
            cmd = [self.cli, "download", self.torrent, "-o", out, f"--bind-ip={ip}"]
            return cmd + ([f"--workers={self.a.workers}"] if self.a.workers else [])
        if client == "libtorrent":
            return [PY, SELF, "_lt_download", self.torrent, out, ip]
        return ["aria2c", f"--interface={ip}", f"--listen-port={free_port(ip)}",
                "--seed-time=0", "--file-allocation=falloc", "--enable-dht=false",
                "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
                "--disable-ipv6=true", "--console-log-level=error", "--summary-interval=0",
                "-d", out, self.torrent]

    def first_byte_threshold(self):
        # handshake + bitfield + a generous extension handshake / have / unchoke allowance,
        # plus one 16 KiB block message: more than this cannot be protocol overhead alone.
        return 68 + 5 + (self.num_pieces + 7) // 8 + 4096 + 16384

    def received(self, ip):
        """Payload-and-all bytes received so far by each TCP connection from `ip`."""
        r = subprocess.run(["ss", "-tinH", "state", "established", "src", ip],
                           capture_output=True, text=True)
        return [int(v) for v in re.findall(r"bytes_received:(\d+)", r.stdout)]

    def received_max(self, ip):
        return max(self.received(ip), default=0)

    def run_measured(self, name, cmd, ip, log_path, on_poll=None):
        """Runs `cmd` under the measuring wrapper, its output in `log_path`; returns the
        wrapper's result and when the first payload block reached a connection from `ip`.
        `on_poll(received)` is called with the connections' byte counts while it runs."""
        rjson = log_path[:-4] + ".json"
        with open(log_path, "w") as log:
            self.current = subprocess.Popen([PY, SELF, "_measure", rjson, "--"] + cmd,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
            threshold = self.first_byte_threshold()
            first = None
            deadline = time.monotonic() + self.a.timeout
            while self.current.poll() is None:
                if time.monotonic() > deadline:
                    self.current.terminate()
                    self.current.wait()
                    die(f"{name} did not finish within {self.a.timeout} s; log {log_path}:\n"
                        + tail(log_path))
                if first is None or on_poll:
                    received = self.received(ip)
                    if first is None and max(received, default=0) > threshold:
                        first = time.monotonic()
                    if on_poll:
                        on_poll(received)
                time.sleep(0.01 if first is None or on_poll else 0.05)
            self.current = None
        self.check_helpers()
        try:
            with open(rjson) as f:
                return json.load(f), first
        except (OSError, ValueError):
            die(f"{name}: the measuring wrapper left no result; log {log_path}:\n"
                + tail(log_path))

    def download(self, rnd, client, ip):
        out = os.path.join(self.work, f"dl-{rnd}-{client}")
        os.makedirs(out)
        log_path = os.path.join(self.logs, f"{rnd}-{client}.log")
        m, first = self.run_measured(client, self.command(client, out, ip), ip, log_path)
        if m["rc"] != 0:
            die(f"{client} exited with status {m['rc']}; log {log_path}:\n" + tail(log_path))
        if m["leftover"]:
            die(f"{client} left processes running 30 s after it exited: {m['leftover']}")
        if first is None:
            die(f"{client} finished, but no connection from {ip} was seen receiving data "
                "(does it bind its peer connections to that address?)")
        for rel, want in self.want.items():
            got = sha256_of(os.path.join(out, rel))
            if got != want:
                die(f"{client}: {rel} is not byte-exact (sha256 {got}, want {want})")
        shutil.rmtree(out)
        wall = m["t1"] - m["t0"]
        return {"mbps": self.size / wall / 1e6, "ttfb": first - m["t0"],
                "cpu_per_gb": m["cpu"] / (self.size / 1e9), "rss_mb": m["maxrss_kib"] * 1024 / 1e6,
                "wall": wall}

    def run(self):
        a = self.a
        clients = a.clients.split(",")
        for c in clients:
            if c not in CLIENTS:
                die(f"unknown client {c} (known: {','.join(CLIENTS)})")
        self.setup()
        files = "1 file" if a.files == 1 else f"{a.files} files"
        print(f"payload {a.size_mib} MiB ({files}, {a.piece_kib} KiB pieces, "
              f"{self.num_pieces} pieces); {a.seeders} {a.seeder_kind} seeder(s) on 127.0.0.2+; "
              f"opentracker; {a.rounds} round(s), order rotating", flush=True)
        results = {c: [] for c in clients}
        for rnd in range(1, a.rounds + 1):
            k = (rnd - 1) % len(clients)
            for ci, client in enumerate(clients[k:] + clients[:k]):
                ip = f"127.1.{rnd}.{CLIENTS.index(client) + 1}"  # fresh every download
                r = self.download(rnd, client, ip)
                results[client].append(r)
                print(f"round {rnd} {client:<10} from {ip:<11} {r['mbps']:7.1f} MB/s  "
                      f"first byte {r['ttfb']:5.2f} s  CPU {r['cpu_per_gb']:5.2f} s/GB  "
                      f"peak RSS {r['rss_mb']:7.1f} MB  ({r['wall']:.2f} s)  sha256 ok",
                      flush=True)
        report(results, clients, a.rounds)


def report(results, clients, rounds):
    keys = [("mbps", "MB/s", "{:.1f}"), ("ttfb", "first byte s", "{:.2f}"),
            ("cpu_per_gb", "CPU s/GB", "{:.2f}"), ("rss_mb", "peak RSS MB", "{:.1f}")]
    med = {c: {k: statistics.median(r[k] for r in results[c]) for k, _, _ in keys}
           for c in clients}
    print(f"\nmedians of {rounds} round(s)")
    print(f"{'client':<18}" + "".join(f"{h:>14}" for _, h, _ in keys))
    for c in clients:
        print(f"{c:<18}" + "".join(f"{fmt.format(med[c][k]):>14}" for k, _, fmt in keys))
    if "swarm" in clients:
        for other in clients:
            if other == "swarm":
                continue
            print(f"{'swarm/' + other:<18}" + "".join(
                f"{(med['swarm'][k] / med[other][k] if med[other][k] else float('nan')):>13.2f}x"
                for k, _, _ in keys))
        print("(ratios: MB/s higher is better for swarm; first byte, CPU, RSS lower is better)")


def sha256_of(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(8 << 20):
                h.update(chunk)
    except OSError as e:
        return f"unreadable ({e.strerror})"
    return h.hexdigest()


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_lt_seed":
        return lt_seed(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    if len(sys.argv) > 1 and sys.argv[1] == "_lt_download":
        return lt_download(sys.argv[2], sys.argv[3], sys.argv[4])
    if len(sys.argv) > 1 and sys.argv[1] == "_measure":
        return measure(sys.argv[2], sys.argv[4:])

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mib", type=int, default=1024, help="payload size (default 1024)")
    p.add_argument("--piece-kib", type=int, default=1024, help="piece length (default 1024)")
    p.add_argument("--files", type=int, default=1,
                   help="1: a single file; N>1: a folder of N files (default 1)")
    p.add_argument("--rounds", type=int, default=3, help="downloads per client (default 3)")
    p.add_argument("--seeders", type=int, default=3, help="seeders (default 3)")
    p.add_argument("--seeder-kind", choices=("libtorrent", "aria2"), default="libtorrent")
    p.add_argument("--clients", default=",".join(CLIENTS),
                   help="comma-separated subset of swarm,libtorrent,aria2c")
    p.add_argument("--workers", type=int, default=0, help="swarm's --workers (default: its own)")
    p.add_argument("--cli", help="a built swarm-cli (default: bazel build, then bazel-bin's)")
    p.add_argument("--no-build", action="store_true", help="use bazel-bin's swarm-cli as it is")
    p.add_argument("--timeout", type=int, default=600, help="seconds per download (default 600)")
    p.add_argument("--keep", action="store_true", help="keep the work folder and its logs")
    args = p.parse_args()
    if not 1 <= args.seeders <= 250 or args.rounds < 1 or args.files < 1 or args.size_mib < 1:
        p.error("bad --seeders/--rounds/--files/--size-mib")
    if args.piece_kib < 16 or args.piece_kib & (args.piece_kib - 1):
        p.error("--piece-kib must be a power of two from 16")

    bench = Bench(args)

    def on_signal(signum, _):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        bench.run()
    except KeyboardInterrupt:
        print("download_speed: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit as e:
        if e.code and bench.work and not args.keep:
            print("download_speed: the work folder and its logs are removed; --keep keeps them",
                  file=sys.stderr)
        raise
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
