"""What a test saw, kept so that a failure can show it: every client exchange
and command (the transcript), and where each log source stood when the test
began, so the report holds only the lines written while the test ran.

conftest.py starts a Record for every test and adds its sections to the report
of a test that fails; helpers call note() and never print.
"""
import shlex

MODULE_LINE_MARKERS = ("pam_totp(", "pam_policy(")


class Record:
    current = None

    def __init__(self, sources):
        self.notes = []
        self.marks = {}
        for src in sources:
            self.marks[src] = _safe(src.mark)

    def note(self, title, text):
        self.notes.append((title, text.rstrip("\n")))

    def sections(self, sources):
        out = []
        if self.notes:
            out.append(("client transcript", "\n\n".join("## %s\n%s" % (t, x) for t, x in self.notes)))
        for src in sources:
            mark = self.marks.get(src, src.start)
            lines = _safe(lambda: src.lines_since(mark)) or []
            if src.module_lines_only:
                lines = [line for line in lines if any(m in line for m in MODULE_LINE_MARKERS)]
            text = "\n".join(lines[-src.report_lines:]) if lines else "(nothing)"
            out.append(("%s since the test began" % src.title, text))
        return out


def _safe(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - a report must not fail on a log it cannot read
        return ["(could not read: %s)" % e]


def note(title, text):
    if Record.current is not None:
        Record.current.note(title, text)


def note_command(argv, status, output, input_lines=None):
    text = "$ " + " ".join(shlex.quote(a) for a in argv)
    if input_lines:
        text += "\n(answers: %s)" % ", ".join(repr(a) for a in input_lines)
    text += "\n" + (output.rstrip("\n") if output else "") + "\n(exit %s)" % status
    note("command", text)
