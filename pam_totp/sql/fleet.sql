-- pam_totp fleet store: one enrollment per user for every host, each code
-- accepted once across all of them, one rate limit for the fleet.
--
-- Load as a superuser into the database the hosts connect to:
--     psql -v ON_ERROR_STOP=1 -d pam_totp -f /usr/share/pam_totp/fleet.sql
-- It is idempotent: loading it again replaces the functions, keeps the data.
--
-- Roles (cluster-wide, created here without a login; grant them to logins):
--   pam_totp_host   what a host's login gets: EXECUTE on pam_totp.verify only.
--                   It can ask "is this code right for this user now", never
--                   read a secret or a scratch code.
--   pam_totp_admin  enrolls, lists and removes (pam_totp.enroll, .remove, .list).
--   pam_totp_user   self-service: enrolls and removes its own login's name only.
--
-- Secrets and hashed scratch codes sit in tables no role but the owner can
-- read. The verify function runs as the owner (SECURITY DEFINER), takes a
-- row lock on the user, checks with the database's clock and records the
-- used step, the spent scratch code or the attempt in the same transaction:
-- two hosts racing one code are serialised on the row, and one wins.

\set ON_ERROR_STOP 1

BEGIN;

CREATE EXTENSION IF NOT EXISTS pgcrypto;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pam_totp_host') THEN
        CREATE ROLE pam_totp_host NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pam_totp_admin') THEN
        CREATE ROLE pam_totp_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pam_totp_user') THEN
        CREATE ROLE pam_totp_user NOLOGIN;
    END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS pam_totp;
REVOKE ALL ON SCHEMA pam_totp FROM PUBLIC;
GRANT USAGE ON SCHEMA pam_totp TO pam_totp_host, pam_totp_admin, pam_totp_user;

-- One row per user: the secret and the settings of the enrollment, and the
-- newest step accepted (the watermark: no code for a step at or below it is
-- accepted again, with disallow_reuse).
CREATE TABLE IF NOT EXISTS pam_totp.enrollments (
    username        text PRIMARY KEY CHECK (length(username) BETWEEN 1 AND 256),
    secret          bytea NOT NULL CHECK (length(secret) BETWEEN 1 AND 128),
    step_size       integer NOT NULL DEFAULT 30 CHECK (step_size BETWEEN 1 AND 60),
    window_size     integer NOT NULL DEFAULT 3 CHECK (window_size BETWEEN 1 AND 100),
    disallow_reuse  boolean NOT NULL DEFAULT true,
    rate_attempts   integer CHECK (rate_attempts BETWEEN 1 AND 100),
    rate_interval   integer CHECK (rate_interval BETWEEN 1 AND 3600),
    time_skew       bigint NOT NULL DEFAULT 0,
    last_step       bigint,
    enrolled_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((rate_attempts IS NULL) = (rate_interval IS NULL))
);

-- Scratch codes, each salted and hashed (bcrypt); a used one is deleted.
CREATE TABLE IF NOT EXISTS pam_totp.scratch_codes (
    username  text NOT NULL REFERENCES pam_totp.enrollments ON DELETE CASCADE,
    hash      text NOT NULL
);
CREATE INDEX IF NOT EXISTS scratch_codes_user ON pam_totp.scratch_codes (username);

-- The times of the newest attempts per user (at most rate_attempts of them),
-- from every host: the rate limit is the fleet's.
CREATE TABLE IF NOT EXISTS pam_totp.attempts (
    username  text NOT NULL REFERENCES pam_totp.enrollments ON DELETE CASCADE,
    at        bigint NOT NULL,
    host      text NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_user ON pam_totp.attempts (username, at);

REVOKE ALL ON ALL TABLES IN SCHEMA pam_totp FROM PUBLIC;

-- RFC 4226 HOTP, 6 digits.
CREATE OR REPLACE FUNCTION pam_totp.hotp(key bytea, counter bigint) RETURNS integer
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    h bytea := hmac(int8send(counter), key, 'sha1');
    o integer := get_byte(h, 19) & 15;
BEGIN
    RETURN (((get_byte(h, o) & 127) << 24) | (get_byte(h, o + 1) << 16)
            | (get_byte(h, o + 2) << 8) | get_byte(h, o + 3)) % 1000000;
END
$$;

-- What a host asks: is CODE6 (the 6-digit reading of the input, or NULL) or
-- CODE8 (the 8-digit reading, a scratch code, or NULL) right for USERNAME now?
-- The same order and rules as pam_totp's decision (pam_totp/src/decision.rs):
-- the attempt is counted first (throttled past the limit), then the 6-digit
-- reading as a time-based code within the window, then the 8-digit reading
-- as a scratch code. Returns one row:
--   outcome      accepted | scratch | reused | wrong-code | throttled | not-enrolled
--   step         the accepted or reused step
--   retry_after  seconds, when throttled
CREATE OR REPLACE FUNCTION pam_totp.verify(username text, code6 integer, code8 integer,
                                           OUT outcome text, OUT step bigint, OUT retry_after integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    e pam_totp.enrollments;
    now_s bigint := floor(extract(epoch FROM clock_timestamp()))::bigint;
    tm bigint;
    w integer;
    i integer;
    counted integer;
    oldest bigint;
    found_step bigint;
    spent integer;
BEGIN
    SELECT * INTO e FROM pam_totp.enrollments AS x WHERE x.username = verify.username FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not-enrolled';
        RETURN;
    END IF;

    IF e.rate_attempts IS NOT NULL THEN
        INSERT INTO pam_totp.attempts VALUES (e.username, now_s, session_user);
        DELETE FROM pam_totp.attempts AS a
         WHERE a.username = e.username AND (a.at < now_s - e.rate_interval OR a.at > now_s);
        SELECT count(*) INTO counted FROM pam_totp.attempts AS a WHERE a.username = e.username;
        IF counted > e.rate_attempts THEN
            -- Keep the newest rate_attempts, as the secret file does.
            DELETE FROM pam_totp.attempts AS a
             WHERE a.username = e.username
               AND a.ctid NOT IN (SELECT b.ctid FROM pam_totp.attempts AS b
                                   WHERE b.username = e.username
                                   ORDER BY b.at DESC LIMIT e.rate_attempts);
            SELECT min(a.at) INTO oldest FROM pam_totp.attempts AS a WHERE a.username = e.username;
            outcome := 'throttled';
            retry_after := greatest(1, oldest + e.rate_interval - now_s);
            RETURN;
        END IF;
    END IF;

    IF code6 IS NOT NULL AND code6 BETWEEN 0 AND 999999 THEN
        tm := now_s / e.step_size + e.time_skew;
        w := e.window_size;
        -- Every step of the window is computed: the time taken says nothing.
        FOR i IN -((w - 1) / 2) .. w / 2 LOOP
            IF pam_totp.hotp(e.secret, tm + i) = code6 AND found_step IS NULL THEN
                found_step := tm + i;
            END IF;
        END LOOP;
        IF found_step IS NOT NULL THEN
            step := found_step;
            IF e.disallow_reuse AND e.last_step IS NOT NULL AND e.last_step >= found_step THEN
                outcome := 'reused';
                RETURN;
            END IF;
            IF e.disallow_reuse THEN
                UPDATE pam_totp.enrollments AS x SET last_step = found_step
                 WHERE x.username = e.username;
            END IF;
            outcome := 'accepted';
            RETURN;
        END IF;
    END IF;

    IF code8 IS NOT NULL AND code8 BETWEEN 10000000 AND 99999999 THEN
        DELETE FROM pam_totp.scratch_codes AS s
         WHERE s.ctid = (SELECT c.ctid FROM pam_totp.scratch_codes AS c
                          WHERE c.username = e.username AND c.hash = crypt(code8::text, c.hash)
                          LIMIT 1);
        GET DIAGNOSTICS spent = ROW_COUNT;
        IF spent = 1 THEN
            outcome := 'scratch';
            RETURN;
        END IF;
    END IF;

    outcome := 'wrong-code';
END
$$;

-- Whether USERNAME is enrolled: what a host asks before the prompt, so that
-- a user who is not enrolled gets nullok's answer without one.
CREATE OR REPLACE FUNCTION pam_totp.enrolled(username text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM pam_totp.enrollments AS e WHERE e.username = enrolled.username)
$$;

-- A new enrollment for USERNAME, replacing any other in the same transaction:
-- the old secret, its scratch codes and its state are gone on every host at
-- once. SCRATCH are the scratch codes (8 digits each), stored hashed.
CREATE OR REPLACE FUNCTION pam_totp.enroll(username text, secret bytea, scratch integer[],
                                           step_size integer DEFAULT 30,
                                           window_size integer DEFAULT 3,
                                           disallow_reuse boolean DEFAULT true,
                                           rate_attempts integer DEFAULT NULL,
                                           rate_interval integer DEFAULT NULL,
                                           last_step bigint DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    c integer;
BEGIN
    DELETE FROM pam_totp.enrollments AS x WHERE x.username = enroll.username;
    INSERT INTO pam_totp.enrollments (username, secret, step_size, window_size, disallow_reuse,
                                      rate_attempts, rate_interval, last_step)
    VALUES (enroll.username, enroll.secret, enroll.step_size, enroll.window_size,
            enroll.disallow_reuse, enroll.rate_attempts, enroll.rate_interval, enroll.last_step);
    FOREACH c IN ARRAY coalesce(scratch, '{}') LOOP
        IF c NOT BETWEEN 10000000 AND 99999999 THEN
            RAISE EXCEPTION 'a scratch code has 8 digits, the first not 0';
        END IF;
        INSERT INTO pam_totp.scratch_codes VALUES (enroll.username, crypt(c::text, gen_salt('bf', 6)));
    END LOOP;
END
$$;

-- Removes USERNAME's enrollment; true if there was one.
CREATE OR REPLACE FUNCTION pam_totp.remove(username text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM pam_totp.enrollments AS x WHERE x.username = remove.username;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n = 1;
END
$$;

-- The enrollments without their secrets: what an admin lists.
CREATE OR REPLACE FUNCTION pam_totp.list()
RETURNS TABLE (username text, step_size integer, window_size integer, disallow_reuse boolean,
               rate_attempts integer, rate_interval integer, scratch_codes bigint,
               enrolled_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.username, e.step_size, e.window_size, e.disallow_reuse, e.rate_attempts,
           e.rate_interval,
           (SELECT count(*) FROM pam_totp.scratch_codes AS s WHERE s.username = e.username),
           e.enrolled_at
      FROM pam_totp.enrollments AS e ORDER BY e.username
$$;

-- Self-service: a login in pam_totp_user enrolls or removes its own name only.
CREATE OR REPLACE FUNCTION pam_totp.enroll_self(secret bytea, scratch integer[],
                                                step_size integer DEFAULT 30,
                                                window_size integer DEFAULT 3,
                                                disallow_reuse boolean DEFAULT true,
                                                rate_attempts integer DEFAULT NULL,
                                                rate_interval integer DEFAULT NULL,
                                                last_step bigint DEFAULT NULL)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pam_totp.enroll(session_user::text, secret, scratch, step_size, window_size,
                           disallow_reuse, rate_attempts, rate_interval, last_step)
$$;

CREATE OR REPLACE FUNCTION pam_totp.remove_self() RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pam_totp.remove(session_user::text)
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pam_totp FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pam_totp.verify(text, integer, integer) TO pam_totp_host;
GRANT EXECUTE ON FUNCTION pam_totp.enrolled(text) TO pam_totp_host, pam_totp_admin, pam_totp_user;
GRANT EXECUTE ON FUNCTION pam_totp.enroll(text, bytea, integer[], integer, integer, boolean,
                                          integer, integer, bigint) TO pam_totp_admin;
GRANT EXECUTE ON FUNCTION pam_totp.remove(text) TO pam_totp_admin;
GRANT EXECUTE ON FUNCTION pam_totp.list() TO pam_totp_admin;
GRANT EXECUTE ON FUNCTION pam_totp.enroll_self(bytea, integer[], integer, integer, boolean,
                                               integer, integer, bigint) TO pam_totp_user;
GRANT EXECUTE ON FUNCTION pam_totp.remove_self() TO pam_totp_user;

COMMIT;
