#!/usr/bin/python3
"""One SSH login with paramiko: public key, then keyboard-interactive.

  ssh_login.py --port P --user U [--host H] [--key FILE] [--answer TEXT]...
               [--host-key FILE.pub]... [--command CMD] --expect success|refused

--key: offer this private key first (publickey). Each --answer is the reply to
one keyboard-interactive prompt, in order; without --answer, keyboard-interactive
is not tried. --host-key: the server must present one of these public keys.
With --expect success the login must succeed and CMD (if given) exit 0; with
--expect refused it must fail. Prints one summary line and a JSON report;
exit status 0 when the expectation holds, 1 when not, 2 on bad usage.
"""
import argparse
import json
import socket
import sys

import paramiko


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--key")
    ap.add_argument("--answer", action="append", default=[])
    ap.add_argument("--host-key", action="append", default=[])
    ap.add_argument("--command")
    ap.add_argument("--expect", choices=["success", "refused"], required=True)
    args = ap.parse_args()

    report = {"user": args.user, "port": args.port, "publickey": None,
              "methods_after_key": None, "prompts": [], "messages": [], "keyboard_interactive": None,
              "authenticated": False, "stdout": None, "stderr": None, "exit": None,
              "error": None}
    t = None
    try:
        sock = socket.create_connection((args.host, args.port), timeout=15)
        t = paramiko.Transport(sock)
        t.start_client(timeout=15)
        server_key = t.get_remote_server_key()
        if args.host_key:
            offered = (server_key.get_name(), server_key.get_base64())
            known = []
            for path in args.host_key:
                with open(path) as f:
                    parts = f.read().split()
                    known.append((parts[0], parts[1]))
            if offered not in known:
                raise RuntimeError("server host key %s is not one of %s" % (offered[0], args.host_key))
        if args.key:
            key = paramiko.PKey.from_path(args.key) if hasattr(paramiko.PKey, "from_path") \
                else paramiko.Ed25519Key.from_private_key_file(args.key)
            try:
                rest = t.auth_publickey(args.user, key)
                report["publickey"] = "partial" if rest else "accepted"
                report["methods_after_key"] = list(rest or [])
            except paramiko.BadAuthenticationType as e:
                report["publickey"] = "not-allowed"
                report["methods_after_key"] = list(e.allowed_types)
            except paramiko.AuthenticationException as e:
                report["publickey"] = "refused: %s" % e
        if args.answer and not t.is_authenticated():
            answers = list(args.answer)

            def handler(title, instructions, prompts):
                if title or instructions:
                    report["messages"].append((title + "\n" + instructions).strip())
                replies = []
                for text, echo in prompts:
                    report["prompts"].append({"prompt": text, "echo": bool(echo)})
                    replies.append(answers.pop(0) if answers else "")
                return replies

            try:
                t.auth_interactive(args.user, handler)
                report["keyboard_interactive"] = "accepted"
            except paramiko.BadAuthenticationType as e:
                report["keyboard_interactive"] = "not-allowed (%s)" % ",".join(e.allowed_types)
            except paramiko.AuthenticationException as e:
                report["keyboard_interactive"] = "refused: %s" % e
        report["authenticated"] = t.is_authenticated()
        if report["authenticated"] and args.command:
            chan = t.open_session(timeout=15)
            chan.settimeout(30)
            chan.exec_command(args.command)
            out = chan.makefile("rb").read().decode("utf-8", "replace")
            err = chan.makefile_stderr("rb").read().decode("utf-8", "replace")
            report["exit"] = chan.recv_exit_status()
            report["stdout"], report["stderr"] = out, err
    except Exception as e:  # noqa: BLE001 - every failure goes into the report
        report["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        if t is not None:
            t.close()

    if args.expect == "success":
        ok = report["authenticated"] and report["error"] is None and \
            (args.command is None or report["exit"] == 0)
    else:
        ok = not report["authenticated"]
    print("%s: %s login as %s (publickey: %s; keyboard-interactive: %s; error: %s)" % (
        "ok" if ok else "UNEXPECTED", "succeeded" if report["authenticated"] else "refused",
        args.user, report["publickey"], report["keyboard_interactive"], report["error"]))
    print(json.dumps(report, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
