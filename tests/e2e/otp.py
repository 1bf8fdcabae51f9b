#!/usr/bin/python3
"""Codes from a pam_google_authenticator secret file, as an authenticator app
would show them.

  otp.py FILE [--offset N]    the TOTP code for now + N steps (default 0)
  otp.py FILE --scratch       the scratch codes, one per line
  otp.py FILE --not-near N    a 6-digit code that matches no step within N of now
"""
import base64
import hashlib
import hmac
import struct
import sys
import time


def read(path):
    with open(path, "rb") as f:
        lines = f.read().decode("ascii", "replace").splitlines()
    secret = lines[0]
    options = {}
    scratch = []
    for line in lines[1:]:
        if line.startswith('" '):
            words = line[2:].split()
            if words:
                options[words[0]] = words[1:]
        elif line.strip().isdigit():
            scratch.append(line.strip())
    return secret, options, scratch


def decode(secret):
    # The module's base32: spaces and dashes skipped, 0/1/8 read as O/L/B, no padding.
    s = "".join(c for c in secret.upper() if c not in " \t\r\n-")
    s = s.translate(str.maketrans("018", "OLB"))
    return base64.b32decode(s + "=" * (-len(s) % 8))


def hotp(key, counter, digits=6):
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def _key_and_step(path):
    secret, options, _ = read(path)
    step = int(options.get("STEP_SIZE", ["30"])[0])
    return decode(secret), int(time.time()) // step


def code(path, offset=0):
    """The code an app shows now + OFFSET steps."""
    key, now = _key_and_step(path)
    return hotp(key, now + offset)


def scratch_codes(path):
    return read(path)[2]


def code_not_near(path, steps):
    """A 6-digit code that matches no step within STEPS of now."""
    key, now = _key_and_step(path)
    near = {hotp(key, now + d) for d in range(-steps, steps + 1)}
    return next(c for c in ("%06d" % n for n in range(123456, 10 ** 6)) if c not in near)


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 2
    if len(argv) > 2 and argv[2] == "--scratch":
        print("\n".join(scratch_codes(argv[1])))
        return 0
    if len(argv) > 3 and argv[2] == "--not-near":
        print(code_not_near(argv[1], int(argv[3])))
        return 0
    offset = int(argv[3]) if len(argv) > 3 and argv[2] == "--offset" else 0
    print(code(argv[1], offset))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
