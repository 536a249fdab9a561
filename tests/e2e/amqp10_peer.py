#!/usr/bin/python3
"""The AMQP 1.0 side of vsb's tests, with Apache Qpid Proton as 5GMETA's pipelines use it.

  amqp10_peer.py receive URL --source ADDR [--source ADDR ...] --count N --timeout S --body-dir DIR
      Attaches one receiver per source (e.g. /exchange/video/video.h264.1, /exchange/video/#),
      prints {"ready": true} once every link is attached, then one JSON line per message:
      its source index, properties, application properties as [AMQP type, value] and the
      body's size; the bodies of source i are appended to DIR/i.h264. Exits 0 once every
      source got N messages, 2 on timeout.
  amqp10_peer.py decode HEX
      Decodes one AMQP 1.0 encoded value with proton.Data and prints it with its types.

Run with /usr/bin/python3 (Debian's python3-qpid-proton).
"""
import argparse
import json
import os
import sys
import uuid

import proton
from proton.handlers import MessagingHandler
from proton.reactor import Container


def type_name(value):
    """The AMQP 1.0 type Proton decoded `value` from (its Python classes map 1:1 to them)."""
    for cls, name in [
        (bool, "boolean"), (proton.timestamp, "timestamp"), (proton.ulong, "ulong"), (proton.uint, "uint"),
        (proton.ushort, "ushort"), (proton.ubyte, "ubyte"), (proton.int32, "int"), (proton.short, "short"),
        (proton.byte, "byte"), (int, "long"), (proton.float32, "float"), (float, "double"),
        (proton.symbol, "symbol"), (proton.char, "char"), (str, "string"), (bytes, "binary"),
        (uuid.UUID, "uuid"), (type(None), "null"), (proton.Described, "described"), (dict, "map"), (list, "list"),
    ]:
        if isinstance(value, cls):
            return name
    return type(value).__name__


def typed(value):
    """[type, value] with the value made JSON-able."""
    name = type_name(value)
    if isinstance(value, proton.Described):
        return [name, {"descriptor": typed(value.descriptor), "value": typed(value.value)}]
    if isinstance(value, dict):
        return [name, [[typed(k), typed(v)] for k, v in value.items()]]
    if isinstance(value, list):
        return [name, [typed(v) for v in value]]
    if isinstance(value, bytes):
        return [name, value.hex()]
    if isinstance(value, uuid.UUID):
        return [name, str(value)]
    return [name, value]


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Receiver(MessagingHandler):
    def __init__(self, args):
        super().__init__(prefetch=200)
        self.args = args
        self.counts = [0] * len(args.source)
        self.opened = 0
        self.links = {}
        self.files = [open(os.path.join(args.body_dir, f"{i}.h264"), "wb") for i in range(len(args.source))]

    def on_start(self, event):
        conn = event.container.connect(self.args.url, allowed_mechs="PLAIN ANONYMOUS")
        for i, source in enumerate(self.args.source):
            self.links[event.container.create_receiver(conn, source, name=f"vsb-test-{i}")] = i
        self.timer = event.container.schedule(self.args.timeout, self)

    def on_timer_task(self, event):
        emit({"error": f"timed out after {self.args.timeout} s", "counts": self.counts})
        self.finish(event, 2)

    def on_link_opened(self, event):
        if event.receiver in self.links:
            self.opened += 1
            if self.opened == len(self.links):
                emit({"ready": True})

    def on_message(self, event):
        i = self.links[event.receiver]
        if self.counts[i] >= self.args.count:
            return
        self.counts[i] += 1
        m = event.message
        body = m.body
        if isinstance(body, memoryview):
            body = body.tobytes()
        props = {k: typed(getattr(m, k)) for k in ["id", "subject", "content_type", "creation_time", "durable", "address"]}
        emit({
            "source": i,
            "properties": props,
            "appProperties": {k: typed(v) for k, v in (m.properties or {}).items()},
            "annotations": {str(k): typed(v) for k, v in (m.annotations or {}).items()},
            "bodyType": type_name(body),
            "bodySize": len(body) if isinstance(body, (bytes, str)) else -1,
        })
        if isinstance(body, bytes):
            self.files[i].write(body)
        if all(c >= self.args.count for c in self.counts):
            self.timer.cancel()
            self.finish(event, 0)

    def on_transport_error(self, event):
        emit({"error": f"transport error: {event.transport.condition}"})

    def finish(self, event, code):
        for f in self.files:
            f.close()
        self.code = code
        event.container.stop()


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("receive")
    r.add_argument("url")
    r.add_argument("--source", action="append", required=True)
    r.add_argument("--count", type=int, required=True)
    r.add_argument("--timeout", type=float, default=60)
    r.add_argument("--body-dir", required=True)
    d = sub.add_parser("decode")
    d.add_argument("hex")
    args = parser.parse_args()
    if args.cmd == "decode":
        data = proton.Data()
        data.decode(bytes.fromhex(args.hex))
        emit(typed(data.get_object()))
        return 0
    handler = Receiver(args)
    handler.code = 2
    Container(handler).run()
    return handler.code


if __name__ == "__main__":
    sys.exit(main())
