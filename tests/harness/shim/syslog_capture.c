/*
 * Test-only LD_PRELOAD library. (1) Sends syslog(3) lines to the file named by
 * $PAM_HARNESS_SYSLOG instead of /dev/log, so the real-libpam tests can read
 * exactly what a module (via libpam's pam_syslog) logs. Never installed.
 *
 * Each record is one line: "<facility>.<level>\t<ident>\t<message>", with
 * newlines and tabs in the message escaped as \n and \t.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <fcntl.h>
#include <errno.h>
#include <unistd.h>
#include <dlfcn.h>
#include <pwd.h>
#include <ctype.h>

/*
 * (2) With $PAM_HARNESS_NSS_FOLD_CASE set, getpwnam_r(3) looks names up in
 * lower case, as a case-insensitive NSS backend (SSSD, AD) answers "ALICE"
 * with alice's entry.
 */
int getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t buflen,
               struct passwd **result) {
    static int (*real)(const char *, struct passwd *, char *, size_t, struct passwd **);
    if (!real)
        real = (int (*)(const char *, struct passwd *, char *, size_t, struct passwd **))
            dlsym(RTLD_NEXT, "getpwnam_r");
    if (!real)
        return ENOSYS;
    if (name && getenv("PAM_HARNESS_NSS_FOLD_CASE")) {
        char lower[256];
        size_t i;
        for (i = 0; name[i] && i < sizeof lower - 1; i++)
            lower[i] = (char)tolower((unsigned char)name[i]);
        lower[i] = 0;
        return real(lower, pwd, buf, buflen, result);
    }
    return real(name, pwd, buf, buflen, result);
}

static const char *capture_ident = "";
static int capture_facility = LOG_USER;

void openlog(const char *ident, int option, int facility) {
    (void)option;
    capture_ident = ident ? ident : "";
    capture_facility = facility;
}

void closelog(void) {}

static void capture(int pri, const char *fmt, va_list ap) {
    const char *path = getenv("PAM_HARNESS_SYSLOG");
    char *msg = NULL;
    if (!path || vasprintf(&msg, fmt, ap) < 0)
        return;
    int facility = (pri & LOG_FACMASK) ? (pri & LOG_FACMASK) : capture_facility;
    size_t n = strlen(msg);
    char *line = malloc(n * 2 + strlen(capture_ident) + 64);
    if (line) {
        int off = sprintf(line, "%d.%d\t%s\t", facility >> 3, pri & LOG_PRIMASK, capture_ident);
        for (size_t i = 0; i < n; i++) {
            if (msg[i] == '\n') { line[off++] = '\\'; line[off++] = 'n'; }
            else if (msg[i] == '\t') { line[off++] = '\\'; line[off++] = 't'; }
            else line[off++] = msg[i];
        }
        line[off++] = '\n';
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ssize_t w = write(fd, line, (size_t)off);
            (void)w;
            close(fd);
        }
        free(line);
    }
    free(msg);
}

void vsyslog(int pri, const char *fmt, va_list ap) { capture(pri, fmt, ap); }
void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap) { (void)flag; capture(pri, fmt, ap); }

void syslog(int pri, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    capture(pri, fmt, ap);
    va_end(ap);
}

void __syslog_chk(int pri, int flag, const char *fmt, ...) {
    va_list ap;
    (void)flag;
    va_start(ap, fmt);
    capture(pri, fmt, ap);
    va_end(ap);
}
