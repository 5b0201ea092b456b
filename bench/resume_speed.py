#!/usr/bin/python3
"""Resume speed of swarm: a download stopped halfway and started again, and a --recheck.

Same set-up as download_speed.py (a random payload, `swarm-cli create`, opentracker, K
libtorrent or aria2c seeders on their own 127.0.0.x). Each round, with a state folder of its
own:
  1. `swarm-cli download` into a fresh folder, stopped (SIGTERM, as Ctrl+C) once its
     connections have received half the payload;
  2. the same command again: the time from its spawn to its first payload block (`ss -tin`,
     as download_speed.py measures first byte), the disk reads of its whole process tree
     (ru_inblock: what came from the disk, not from the page cache) and whether the
     coordinator trusted its resume record ("resume record matches" in its log);
  3. `swarm-cli download --recheck` of the now complete data, with the page cache dropped
     first (as root): the workers read and SHA-1 every piece; GB/s = payload / whole command
     (cluster start and stop included), and as swarm-cli reports it (submission to
     completion: the check itself), and its disk reads.
Every download is SHA-256-checked. Prints each round, then the medians.

  bench/resume_speed.py [--size-mib 1024] [--piece-kib 1024] [--rounds 3] [--seeders 3]
      [--seeder-kind libtorrent|aria2] [--workers N] [--cli PATH] [--no-build] [--keep]
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import download_speed as ds  # noqa: E402


class ResumeBench(ds.Bench):
    def swarm(self, out, state, ip, extra, log_path, stop_at_bytes=None):
        """Runs swarm-cli under the measuring wrapper, stopped (SIGTERM, as Ctrl+C) once its
        connections have received `stop_at_bytes`; returns (result, first byte time)."""
        cmd = [self.cli, "download", self.torrent, "-o", out, f"--bind-ip={ip}",
               f"--state-dir={state}", "--verbose"] + extra
        if self.a.workers:
            cmd.append(f"--workers={self.a.workers}")
        stop = {"at": stop_at_bytes}

        def on_poll(received):
            if stop["at"] is not None and sum(received) >= stop["at"]:
                self.current.send_signal(signal.SIGTERM)  # forwarded to swarm-cli
                stop["at"] = None

        m, first = self.run_measured("swarm", cmd, ip, log_path,
                                     on_poll if stop_at_bytes is not None else None)
        if m["leftover"]:
            ds.die(f"swarm left processes running after it exited: {m['leftover']}")
        return m, first

    def verify(self, out):
        for rel, want in self.want.items():
            got = ds.sha256_of(os.path.join(out, rel))
            if got != want:
                ds.die(f"{rel} is not byte-exact after the resume (sha256 {got}, want {want})")

    def drop_caches(self):
        try:
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            return True
        except OSError:
            return False

    def run(self):
        self.setup()
        a = self.a
        print(f"payload {a.size_mib} MiB ({self.num_pieces} pieces of {a.piece_kib} KiB); "
              f"{a.seeders} {a.seeder_kind} seeder(s); {a.rounds} round(s)", flush=True)
        rows = []
        for rnd in range(1, a.rounds + 1):
            out = os.path.join(self.work, f"dl-{rnd}")
            state = os.path.join(self.work, f"state-{rnd}")
            os.makedirs(out)
            log = lambda step: os.path.join(self.logs, f"{rnd}-{step}.log")  # noqa: E731

            m, _ = self.swarm(out, state, f"127.2.{rnd}.1", [], log("first"),
                              stop_at_bytes=self.size // 2)
            if m["rc"] == 0:
                ds.die("the first run finished before it could be stopped halfway "
                       "(a larger --size-mib helps)")

            m, first = self.swarm(out, state, f"127.2.{rnd}.2", [], log("resume"))
            if m["rc"] != 0:
                ds.die(f"the resumed download exited with {m['rc']}; log {log('resume')}")
            text = open(log("resume"), errors="replace").read()
            matched = "resume record matches the files" in text
            checked = "the workers check" in text
            self.verify(out)
            resume = {"first": first - m["t0"] if first else float("nan"),
                      "read_mb": m["inblock"] * 512 / 1e6, "matched": matched,
                      "checked": checked, "wall": m["t1"] - m["t0"]}

            cold = self.drop_caches()
            m, _ = self.swarm(out, state, f"127.2.{rnd}.3", ["--recheck"], log("recheck"))
            if m["rc"] != 0:
                ds.die(f"the --recheck run exited with {m['rc']}; log {log('recheck')}")
            text = open(log("recheck"), errors="replace").read()
            if f"{self.num_pieces} of {self.num_pieces} pieces verified, 0 to fetch" not in text:
                ds.die(f"--recheck did not verify every piece; log {log('recheck')}")
            wall = m["t1"] - m["t0"]
            # swarm-cli's own figure: from the job's submission to its completion, i.e. the
            # check itself, without the cluster's start and stop (0.1 s resolution).
            job = re.search(r"complete: [\d.]+ MB in [\d.]+ s \(([\d.]+) MB/s\)", text)
            recheck = {"gbps": self.size / wall / 1e9, "read_mb": m["inblock"] * 512 / 1e6,
                       "wall": wall, "cold": cold,
                       "job_gbps": float(job.group(1)) / 1e3 if job else float("nan")}
            rows.append((resume, recheck))
            print(f"round {rnd}: resume first new block {resume['first']:.2f} s, "
                  f"read {resume['read_mb']:.1f} MB from disk, record "
                  f"{'matched' if matched else 'NOT matched'}"
                  f"{', pieces checked' if checked else ', nothing checked'} "
                  f"({resume['wall']:.2f} s); --recheck {recheck['gbps']:.2f} GB/s "
                  f"(job {recheck['job_gbps']:.2f}) "
                  f"({recheck['wall']:.2f} s, {recheck['read_mb']:.0f} MB from disk, "
                  f"{'cold' if cold else 'warm'} cache)", flush=True)
            shutil.rmtree(out)
        med = lambda xs: statistics.median(xs)  # noqa: E731
        print(f"\nmedians of {a.rounds} round(s)")
        print(f"resume: first new block {med([r['first'] for r, _ in rows]):.2f} s, "
              f"disk reads {med([r['read_mb'] for r, _ in rows]):.1f} MB, "
              f"record matched in {sum(r['matched'] for r, _ in rows)} of {a.rounds}")
        print(f"--recheck: {med([c['gbps'] for _, c in rows]):.2f} GB/s whole command, "
              f"{med([c['job_gbps'] for _, c in rows]):.2f} GB/s from submission to complete, "
              f"disk reads {med([c['read_mb'] for _, c in rows]):.0f} MB")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--piece-kib", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seeders", type=int, default=3)
    p.add_argument("--seeder-kind", choices=("libtorrent", "aria2"), default="libtorrent")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--cli")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    args.files = 1
    bench = ResumeBench(args)
    signal.signal(signal.SIGTERM, lambda s, _: (_ for _ in ()).throw(SystemExit(128 + s)))
    try:
        bench.run()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
