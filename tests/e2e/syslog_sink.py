#!/usr/bin/python3
"""A minimal syslog receiver for the end-to-end run: listens on a Unix datagram
socket (what syslog(3) and pam_syslog(3) write to) and appends each message to
a file as a syslog daemon would (`Mmm dd hh:mm:ss host ident[pid]: text`), and
to FILE.raw with its <priority> kept.

  syslog_sink.py SOCKET FILE

Creates SOCKET (mode 0666), writes FILE.ready once listening, and removes
SOCKET on SIGTERM/SIGINT.
"""
import os
import re
import signal
import socket
import sys

HEAD = re.compile(rb"^<(\d+)>(.*)$", re.S)


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path, out = argv[1], argv[2]
    host = socket.gethostname().split(".")[0]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)

    def stop(*_):
        try:
            os.unlink(path)
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(out, "ab", buffering=0) as log, open(out + ".raw", "ab", buffering=0) as raw:
        open(out + ".ready", "w").close()
        while True:
            data = s.recv(65536).rstrip(b"\0\n")
            raw.write(data + b"\n")
            m = HEAD.match(data)
            body = m.group(2) if m else data
            # "Mmm dd hh:mm:ss ident[pid]: text" -> insert the host after the stamp.
            if len(body) > 16 and body[15:16] == b" ":
                line = body[:16] + host.encode() + b" " + body[16:]
            else:
                line = body
            log.write(line.replace(b"\n", b" ") + b"\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
