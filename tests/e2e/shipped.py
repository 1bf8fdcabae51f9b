#!/usr/bin/python3
"""The sshd and PAM configuration as the package ships it, for everything that
configures a machine or a private sshd: the end-to-end suite, vagrant/provision.sh,
tests/e2e/simulate-system.sh and scripts/demo.sh. Nothing here writes a
configuration line of its own: every line comes from the example files
(packaging/examples in a checkout, /usr/share/doc/libpam-totp/examples when the
package is installed).

  shipped.py [--examples DIR] sshd-fragment
        the sshd_config.d drop-in, as shipped
  shipped.py [--examples DIR] policy-options
        the options of the pam_policy.so line (the hardening guide's policy)
  shipped.py [--examples DIR] sshd-pam [--nullok] [--module-dir DIR]
        a complete PAM service for a private sshd: the shipped auth lines, pam_unix
        for account and session, the shipped pam_policy line before pam_unix
  shipped.py [--examples DIR] apply-sshd-pam FILE [--nullok]
        edit a Debian /etc/pam.d/sshd: the shipped auth lines in place of
        "@include common-auth" (without nullok unless asked); a no-op when FILE
        already has a pam_totp.so auth line
  shipped.py [--examples DIR] apply-policy FILE
        edit /etc/pam.d/common-password: the shipped options on its pam_policy.so
        line, and use_authtok on pam_unix.so's

The shipped pam.d-sshd example carries nullok (users who have not enrolled yet
get in with the key alone) and tells the admin to drop it once everyone has
enrolled: "strict" below is that line without the word.
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT_EXAMPLES = os.path.normpath(os.path.join(HERE, "..", "..", "packaging", "examples"))
INSTALLED_EXAMPLES = "/usr/share/doc/libpam-totp/examples"

SSHD_FRAGMENT = "sshd_config.d-pam-hardening.conf"
SSHD_PAM = "pam.d-sshd"
COMMON_PASSWORD = "pam.d-common-password"


def _read(examples, name):
    with open(os.path.join(examples, name), encoding="utf-8") as f:
        return f.read()


def _lines(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def sshd_fragment_path(examples=CHECKOUT_EXAMPLES):
    return os.path.join(examples, SSHD_FRAGMENT)


def sshd_fragment(examples=CHECKOUT_EXAMPLES):
    return _read(examples, SSHD_FRAGMENT)


def sshd_settings(examples=CHECKOUT_EXAMPLES):
    """The fragment as {lower-case keyword: value}, as `sshd -T` prints them."""
    out = {}
    for line in _lines(sshd_fragment(examples)):
        key, _, value = line.partition(" ")
        out[key.lower()] = value.strip()
    return out


def _with_module_dir(line, module_dir):
    if not module_dir:
        return line
    return re.sub(r"(?<!\S)(pam_(?:totp|policy)\.so)(?!\S)", lambda m: os.path.join(module_dir, m.group(1)), line)


def sshd_auth_lines(examples=CHECKOUT_EXAMPLES, nullok=False, module_dir=None):
    lines = []
    for line in _lines(_read(examples, SSHD_PAM)):
        words = line.split()
        if not nullok and "pam_totp.so" in words:
            words = [w for w in words if w != "nullok"]
        lines.append(_with_module_dir(" ".join(words), module_dir))
    if not any("pam_totp.so" in line for line in lines):
        raise ValueError("%s has no pam_totp.so line" % os.path.join(examples, SSHD_PAM))
    return lines


def policy_line(examples=CHECKOUT_EXAMPLES, module_dir=None, extra=""):
    found = [line for line in _lines(_read(examples, COMMON_PASSWORD)) if "pam_policy.so" in line.split()]
    if len(found) != 1:
        raise ValueError("%s: expected one pam_policy.so line" % os.path.join(examples, COMMON_PASSWORD))
    return _with_module_dir(found[0], module_dir) + ((" " + extra) if extra else "")


def policy_options(examples=CHECKOUT_EXAMPLES):
    words = policy_line(examples).split()
    return words[words.index("pam_policy.so") + 1:]


def password_stack(examples=CHECKOUT_EXAMPLES, module_dir=None, extra="", module=None):
    """The password part: the shipped pam_policy line (or the same options on
    MODULE, e.g. pam_pwquality.so for a comparison), then pam_unix storing the
    password pam_policy accepted."""
    line = policy_line(examples, module_dir, extra)
    if module:
        line = re.sub(r"\S*pam_policy\.so", module, line)
    return [line, "password required pam_unix.so use_authtok yescrypt"]


def sshd_pam(examples=CHECKOUT_EXAMPLES, nullok=False, module_dir=None, header=None):
    lines = ["# " + h for h in (header or [])]
    lines += sshd_auth_lines(examples, nullok, module_dir)
    lines += ["account required pam_unix.so", "session required pam_unix.so"]
    lines += password_stack(examples, module_dir)
    return "\n".join(lines) + "\n"


def apply_sshd_pam(path, examples=CHECKOUT_EXAMPLES, nullok=False):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if re.search(r"^\s*auth\s.*\bpam_totp\.so\b", text, re.M):
        return False
    if not re.search(r"^@include common-auth\s*$", text, re.M):
        raise ValueError("%s has neither a pam_totp.so auth line nor '@include common-auth'" % path)
    auth = "\n".join(sshd_auth_lines(examples, nullok))
    text = re.sub(r"^@include common-auth\s*$", lambda _: auth, text, count=1, flags=re.M)
    _replace(path, text)
    return True


def apply_policy(path, examples=CHECKOUT_EXAMPLES):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    options = " ".join(policy_options(examples))
    out, seen = [], False
    for line in lines:
        m = re.match(r"^(password\s+\S+\s+pam_policy\.so)(\s.*)?$", line)
        if m:
            line, seen = m.group(1) + " " + options, True
        elif re.match(r"^password\s.*\bpam_unix\.so\b", line) and "use_authtok" not in line.split():
            line += " use_authtok"
        out.append(line)
    if not seen:
        raise ValueError("%s has no 'password ... pam_policy.so' line" % path)
    _replace(path, "\n".join(out) + "\n")


def _replace(path, text):
    st = os.stat(path)
    tmp = path + ".shipped-tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", default=CHECKOUT_EXAMPLES, help="the example files (default: %(default)s)")
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("sshd-fragment")
    sub.add_parser("policy-options")
    p = sub.add_parser("sshd-pam")
    p.add_argument("--nullok", action="store_true")
    p.add_argument("--module-dir")
    p = sub.add_parser("apply-sshd-pam")
    p.add_argument("file")
    p.add_argument("--nullok", action="store_true")
    p = sub.add_parser("apply-policy")
    p.add_argument("file")
    args = ap.parse_args(argv[1:])
    try:
        if args.what == "sshd-fragment":
            sys.stdout.write(sshd_fragment(args.examples))
        elif args.what == "policy-options":
            print(" ".join(policy_options(args.examples)))
        elif args.what == "sshd-pam":
            sys.stdout.write(sshd_pam(args.examples, args.nullok, args.module_dir))
        elif args.what == "apply-sshd-pam":
            apply_sshd_pam(args.file, args.examples, args.nullok)
        elif args.what == "apply-policy":
            apply_policy(args.file, args.examples)
    except (OSError, ValueError) as e:
        print("shipped.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
