#!/usr/bin/python3
"""A stand-in for systemd's notify socket: binds a unix datagram socket at argv[1], prints each
sd_notify message on one line (fields joined by spaces), and closes any passed file
descriptors so systemd-notify's BARRIER=1 completes, as the real manager does."""
import array, os, socket, sys

path = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
print("listening", flush=True)
while True:
    data, anc, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
            for fd in fds:
                os.close(fd)
    print(" ".join(data.decode().split("\n")).strip(), flush=True)
