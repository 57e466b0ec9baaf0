#!/usr/bin/env python3
"""Bank transfers per second, with and without a nemesis (issue 13).

    python3 benches/bank.py --bin target/release/grapedb [--seconds 20]
        [--nemesis-every 4] [--writers 4] [--accounts 100]

Starts the binary on a scratch data directory, makes `accounts` accounts of
1000, and runs `writers` sessions moving random amounts between two random
accounts with one multi-row UPDATE each (the accounts live on different
shards, so each transfer is a multi-shard transaction), and one session
reading count(*) and sum(balance) all the time. With --nemesis-every N the
server is killed with SIGKILL every N seconds and started again; sessions
reconnect. At the end the total must be exact and no read may have seen a
wrong one. Prints one CSV line (also appended to benches/results/bank.csv):
nemesis,seconds,writers,transfers,transfers_per_s,reads,broken_reads,kills,total_ok.
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import psycopg


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, port):
        self.binary, self.port = binary, port
        self.dir = tempfile.mkdtemp(prefix="grape-bank-")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "start", "--data-dir", self.dir, "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            try:
                psycopg.connect(self.dsn(), connect_timeout=1).close()
                return
            except psycopg.Error:
                time.sleep(0.1)
        raise RuntimeError("server did not come up")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def dsn(self):
        return f"host=127.0.0.1 port={self.port} user=grape dbname=grape"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--nemesis-every", type=float, default=0)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--accounts", type=int, default=100)
    a = ap.parse_args()
    srv = Server(a.bin, free_port())
    srv.start()
    total = a.accounts * 1000
    with psycopg.connect(srv.dsn(), autocommit=True) as c:
        c.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
        values = ", ".join(f"({i}, 1000)" for i in range(1, a.accounts + 1))
        c.execute(f"INSERT INTO accounts VALUES {values}")
    stop = threading.Event()
    up = threading.Event()
    up.set()
    counts = {"transfers": 0, "reads": 0, "broken": 0}
    lock = threading.Lock()

    def session():
        while not stop.is_set():
            up.wait()
            try:
                return psycopg.connect(srv.dsn(), autocommit=True, connect_timeout=2)
            except psycopg.Error:
                time.sleep(0.1)
        return None

    def writer(seed):
        rng = random.Random(seed)
        c = None
        while not stop.is_set():
            c = c or session()
            if c is None:
                break
            x = rng.randint(1, a.accounts)
            y = rng.randint(1, a.accounts - 1)
            y = y + 1 if y >= x else y
            amt = rng.randint(1, 50)
            try:
                c.execute(
                    "UPDATE accounts SET balance = balance + CASE WHEN id = %s THEN -%s ELSE %s END"
                    " WHERE id IN (%s, %s)",
                    (x, amt, amt, x, y),
                )
                with lock:
                    counts["transfers"] += 1
            except psycopg.errors.SerializationFailure:
                pass
            except psycopg.Error:
                c = None

    def reader():
        c = None
        while not stop.is_set():
            c = c or session()
            if c is None:
                break
            try:
                n, s = c.execute("SELECT count(*), sum(balance) FROM accounts").fetchone()
                with lock:
                    counts["reads"] += 1
                    if n != a.accounts or s != total:
                        counts["broken"] += 1
            except psycopg.Error:
                c = None

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(a.writers)]
    threads.append(threading.Thread(target=reader))
    kills = 0
    t0 = time.time()
    for t in threads:
        t.start()
    while time.time() - t0 < a.seconds:
        if a.nemesis_every > 0:
            time.sleep(min(a.nemesis_every, max(0, a.seconds - (time.time() - t0))))
            if time.time() - t0 >= a.seconds:
                break
            up.clear()
            srv.kill()
            kills += 1
            srv.start()
            up.set()
        else:
            time.sleep(0.2)
    elapsed = time.time() - t0
    stop.set()
    up.set()
    for t in threads:
        t.join()
    with psycopg.connect(srv.dsn(), autocommit=True) as c:
        n, s = c.execute("SELECT count(*), sum(balance) FROM accounts").fetchone()
    srv.stop()
    ok = n == a.accounts and s == total
    line = (
        f"{'yes' if a.nemesis_every else 'no'},{elapsed:.1f},{a.writers},{counts['transfers']},"
        f"{counts['transfers'] / elapsed:.1f},{counts['reads']},{counts['broken']},{kills},{ok}"
    )
    os.makedirs("benches/results", exist_ok=True)
    path = "benches/results/bank.csv"
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write("nemesis,seconds,writers,transfers,transfers_per_s,reads,broken_reads,kills,total_ok\n")
        f.write(line + "\n")
    print(line)
    if not ok or counts["broken"]:
        raise SystemExit("the total was not kept")


if __name__ == "__main__":
    main()
