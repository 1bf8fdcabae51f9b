#!/usr/bin/python3
"""Runs a program on a pseudo-terminal and types answers at its prompts, the way
a person at a terminal would (misc_conv, passwd and pamtester read the tty).

  pty_talk.py [--timeout S] ANSWER... -- PROGRAM [ARG...]
  from pty_talk import talk; status, transcript = talk(answers, argv)

Each time the program's output since the last answer ends in a prompt (a line
ending with ':' and optional spaces), the next ANSWER and a newline are typed.
Prints the whole transcript (answers are not echoed by the programs, so they do
not appear), then exits with the program's exit status (124 on timeout).
"""
import os
import pty
import re
import select
import signal
import sys
import time

PROMPT = re.compile(r"[^\n]*:[ \t]*$")


def talk(answers, command, timeout=30.0, env=None):
    """Runs COMMAND on a pseudo-terminal, typing ANSWERS at its prompts.
    Returns (exit status, transcript); status 124 on timeout."""
    answers = list(answers)
    pid, fd = pty.fork()
    if pid == 0:
        try:
            if env is None:
                os.execvp(command[0], command)
            else:
                os.execvpe(command[0], command, env)
        finally:
            os._exit(127)
    transcript = b""
    pending = b""
    deadline = time.monotonic() + timeout
    status = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(fd)
            text = transcript.decode("utf-8", "replace").replace("\r\n", "\n")
            return 124, text + "\npty_talk.py: timed out after %ss\n" % timeout
        r, _, _ = select.select([fd], [], [], min(left, 0.2))
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                break
            transcript += data
            pending += data
            continue
        # Quiet for a moment: answer if the output ends in a prompt.
        if answers and PROMPT.search(pending.decode("utf-8", "replace")):
            os.write(fd, answers.pop(0).encode() + b"\n")
            pending = b""
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            # Drain what is left.
            while select.select([fd], [], [], 0.1)[0]:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                transcript += data
            break
    if status is None:
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = transcript.decode("utf-8", "replace").replace("\r\n", "\n")
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status), text
    return 128 + os.WTERMSIG(status), text


def main(argv):
    timeout = 30.0
    if len(argv) > 2 and argv[1] == "--timeout":
        timeout = float(argv[2])
        argv = argv[:1] + argv[3:]
    if "--" not in argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    sep = argv.index("--")
    status, text = talk(argv[1:sep], argv[sep + 1:], timeout)
    sys.stdout.write(text)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
