"""LISTEN / NOTIFY / pg_notify between two psycopg2 connections (argv:
host port dbname), as psycopg2's and Django's listeners use them: the
listener waits in select() and reads what arrives with poll(). Prints a
transcript; psycopg2_notify.out is its output against PostgreSQL 15
(tests/clients/record.sh), compared by tests/it/clients.rs. Every wait
is bounded."""
import select
import sys
import time

import psycopg2
import psycopg2.extensions

HOST, PORT, DB = sys.argv[1], sys.argv[2], sys.argv[3]


def connect():
    c = psycopg2.connect(host=HOST, port=PORT, user="grape", dbname=DB)
    c.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    return c


def heard(conn, want, seconds=5):
    """What `conn` hears within `seconds`, until `want` notifications."""
    got = []
    deadline = time.time() + seconds
    while len(got) < want and time.time() < deadline:
        # psycopg2 may have read some already (PostgreSQL sends them
        # before ReadyForQuery).
        if not conn.notifies and select.select([conn], [], [], 0.5) == ([], [], []):
            continue
        conn.poll()
        while conn.notifies:
            n = conn.notifies.pop(0)
            got.append((n.channel, n.payload, "notifier" if n.pid == notifier_pid else "other"))
    return got


listener, notifier = connect(), connect()
notifier_pid = notifier.info.backend_pid
lc, nc = listener.cursor(), notifier.cursor()
lc.execute("LISTEN jobs")
lc.execute('LISTEN "Mixed"')

nc.execute("NOTIFY jobs, 'one'")
nc.execute("SELECT pg_notify('Mixed', 'two')")
nc.execute("NOTIFY unheard, 'nobody listens'")
# Sent at commit, once per distinct payload; a rollback sends nothing.
nc.execute("BEGIN")
nc.execute("NOTIFY jobs, 'rolled back'")
nc.execute("ROLLBACK")
nc.execute("BEGIN")
nc.execute("NOTIFY jobs, 'three'")
nc.execute("NOTIFY jobs, 'three'")
nc.execute("SELECT pg_notify('jobs', 'four')")
nc.execute("COMMIT")
print("heard:", heard(listener, 4))

# A listener hears its own notifications; UNLISTEN stops it.
lc.execute("NOTIFY jobs, 'self'")
print("self:", heard(listener, 1))
lc.execute("UNLISTEN jobs")
nc.execute("NOTIFY jobs, 'after unlisten'")
nc.execute("NOTIFY \"Mixed\", 'still'")
print("after unlisten:", heard(listener, 1))
# A LISTEN inside a block counts from its commit.
lc.execute("BEGIN")
lc.execute("LISTEN later")
nc.execute("NOTIFY later, 'before commit'")
lc.execute("COMMIT")
nc.execute("NOTIFY later, 'after commit'")
print("listen in a block:", heard(listener, 2))
lc.execute("UNLISTEN *")
nc.execute("NOTIFY later, 'unlistened all'")
print("after unlisten *:", heard(listener, 1, seconds=1))

# UNLISTEN * then LISTEN in one block keeps the LISTEN.
lc.execute("BEGIN")
lc.execute("UNLISTEN *")
lc.execute("LISTEN kept")
lc.execute("COMMIT")
nc.execute("NOTIFY kept, 'still heard'")
print("unlisten * then listen:", heard(listener, 1))
# DISCARD ALL (connection pools) stops listening, as UNLISTEN *.
lc.execute("DISCARD ALL")
nc.execute("NOTIFY kept, 'after discard'")
print("after discard all:", heard(listener, 1, seconds=1))

for sql, args in [("NOTIFY jobs, %s", ("x" * 8000,)), ("SELECT pg_notify('', 'x')", None)]:
    try:
        nc.execute(sql, args)
    except psycopg2.Error as e:
        print("error:", type(e).__name__, e.pgcode, e.diag.message_primary)
listener.close()
notifier.close()
