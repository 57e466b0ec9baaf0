"""A large SELECT is streamed to a client that reads slowly. The slow
client speaks the wire protocol itself over a socket with a small receive
buffer (drivers read everything the server sends into memory at once, so
they cannot show it):

- the server sends rows as it produces them and stops when the client
  does not take them (it does not build the whole result first);
- the statement's table lock stays until its last row has gone: a
  TRUNCATE from another session waits, then runs;
- statement_timeout still stops the rows midway (57014), and the session
  goes on.

Usage: streaming.py PORT
"""

import socket
import struct
import sys
import threading
import time

import psycopg

port = int(sys.argv[1])
dsn = f"host=127.0.0.1 port={port} user=grape dbname=grape"
ROWS = 150_000


class Slow:
    """A protocol-level client that reads only when asked."""

    def __init__(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.connect(("127.0.0.1", port))
        body = struct.pack("!i", 196608) + b"user\0grape\0database\0grape\0\0"
        s.sendall(struct.pack("!i", len(body) + 4) + body)
        self.s, self.buf = s, b""
        self.until_ready()

    def message(self):
        while len(self.buf) < 5 or len(self.buf) < 1 + struct.unpack("!i", self.buf[1:5])[0]:
            chunk = self.s.recv(16384)
            if not chunk:
                raise EOFError
            self.buf += chunk
        n = 1 + struct.unpack("!i", self.buf[1:5])[0]
        m, self.buf = self.buf[:n], self.buf[n:]
        return m[:1], m[5:]

    def until_ready(self):
        """Messages up to ReadyForQuery: (data rows, error fields or None)."""
        rows, err = 0, None
        while True:
            kind, body = self.message()
            if kind == b"D":
                rows += 1
            elif kind == b"E":
                err = body
            elif kind == b"Z":
                return rows, err

    def query(self, sql):
        q = sql.encode() + b"\0"
        self.s.sendall(b"Q" + struct.pack("!i", len(q) + 4) + q)


c = psycopg.connect(dsn, autocommit=True)
c.execute("CREATE TABLE big (id int PRIMARY KEY, pad text)")


def load():
    with c.cursor().copy("COPY big FROM STDIN") as cp:
        for i in range(1, ROWS + 1):
            cp.write_row((i, "x" * 200))


load()

# 1. Start the SELECT, take a few rows, let another session TRUNCATE.
slow = Slow()
slow.query("SELECT id, pad FROM big")
for _ in range(10):
    slow.message()
done = {}


def truncate():
    d = psycopg.connect(dsn, autocommit=True)
    d.execute("TRUNCATE big")
    done["at"] = time.time()


t = threading.Thread(target=truncate)
t.start()
time.sleep(1.0)
assert "at" not in done, "TRUNCATE ran under a streaming SELECT"
rows, err = slow.until_ready()
finished = time.time()
assert err is None, err
t.join(timeout=60)
assert rows + 10 >= ROWS, f"{rows} rows of {ROWS}"
assert done.get("at", 0) >= finished - 0.05, "TRUNCATE waited for the last row"
assert c.execute("SELECT count(*) FROM big").fetchone()[0] == 0

# 2. statement_timeout stops a slow reader's rows midway.
load()
slow.query("SET statement_timeout = 1000")
slow.until_ready()
slow.query("SELECT id, pad FROM big")
slow.message()
time.sleep(2.0)
rows, err = slow.until_ready()
assert err is not None and b"57014" in err, err
assert rows < ROWS, rows
slow.query("RESET statement_timeout")
assert slow.until_ready()[1] is None
assert c.execute("SELECT count(*) FROM big").fetchone()[0] == ROWS
print("ok", rows)
