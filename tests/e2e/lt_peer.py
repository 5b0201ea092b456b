#!/usr/bin/python3
"""A libtorrent peer for the end-to-end tests (Debian's python3-libtorrent).

  lt_peer.py seed  TORRENT        SAVE_DIR IP PORT [upload=B/S] [download=B/S] [connect=IP:PORT]
  lt_peer.py leech TORRENT|MAGNET SAVE_DIR IP PORT [...the same]

seed: until SIGTERM; leech: download, then exit 0. upload/download: rate limits in bytes per
second; connect: a peer to dial at once (one the tracker does not list, for peer exchange).

Bound to IP:PORT (PORT 0: any), plaintext TCP only, with DHT, local discovery, port mapping
and uTP off, so that the test's tracker (or a magnet link's x.pe peers) is its only source of
peers. The leecher prints "metadata" once it has the info dictionary (at once for a .torrent)
and "complete" when every piece is verified; it exits 1 on an error it cannot get past.
Runs under /usr/bin/python3: the bindings exist only for Debian's own interpreter.
"""
import signal
import sys
import time

import libtorrent as lt


def session(ip, port):
    host = f"[{ip}]" if ":" in ip else ip  # IPv6 in brackets
    return lt.session({
        "listen_interfaces": f"{host}:{port}",
        "outgoing_interfaces": ip,
        "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.disabled),
        "allow_multiple_connections_per_ip": True,
        "alert_mask": int(lt.alert.category_t.error_notification
                          | lt.alert.category_t.status_notification),
    })


def add(ses, source, save_path, seed):
    if source.startswith("magnet:"):
        atp = lt.parse_magnet_uri(source)
    else:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(source)
    atp.save_path = save_path
    if seed:
        atp.flags |= lt.torrent_flags.seed_mode  # the test made the data: no re-hash
    return ses.add_torrent(atp)


def fatal_errors(ses):
    fatal = (lt.torrent_error_alert, lt.file_error_alert, lt.listen_failed_alert)
    return [a.message() for a in ses.pop_alerts() if isinstance(a, fatal)]


def main(mode, source, save_path, ip, port, *options):
    opts = dict(o.split("=", 1) for o in options)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    ses = session(ip, int(port))
    # Peers on loopback are in libtorrent's "local" class, which the session's rate limits
    # leave alone: the limits go on that class.
    local = ses.get_peer_class(lt.session.local_peer_class_id)
    local["upload_limit"] = int(opts.get("upload", 0))
    local["download_limit"] = int(opts.get("download", 0))
    ses.set_peer_class(lt.session.local_peer_class_id, local)
    h = add(ses, source, save_path, seed=mode == "seed")
    if "connect" in opts:
        host, _, peer_port = opts["connect"].rpartition(":")
        h.connect_peer((host.strip("[]"), int(peer_port)))
    said_metadata = False
    while not stop:
        errors = fatal_errors(ses)
        if errors:
            print("libtorrent: " + "; ".join(errors), file=sys.stderr, flush=True)
            if mode == "leech":
                return 1
        st = h.status()
        if mode == "leech":
            if st.has_metadata and not said_metadata:
                print("metadata", flush=True)
                said_metadata = True
            if st.is_seeding:
                print("complete", flush=True)
                del h
                del ses  # flushes and closes the files
                return 0
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 6 or sys.argv[1] not in ("seed", "leech"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
