#!/usr/bin/python3
"""A local RTSP server for tests, made with GStreamer's gst-rtsp-server (Debian's
gir1.2-gst-rtsp-server-1.0, run with /usr/bin/python3 which has python3-gi).

Usage: rtsp_server.py PORT PATH [WIDTH HEIGHT FPS]
Serves H.264 (constrained baseline, a keyframe a second) of a live test pattern at
rtsp://127.0.0.1:PORT/PATH and prints "ready rtsp://…" on stdout once listening.
Stops on SIGINT/SIGTERM.
"""
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, path = sys.argv[1], sys.argv[2].lstrip("/")
    width, height, fps = (sys.argv[3:6] + ["320", "240", "30"][len(sys.argv[3:6]):])
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={fps}/1 "
        f"! videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} "
        f"! video/x-h264,profile=constrained-baseline ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(f"/{path}", factory)
    if server.attach(None) == 0:
        print(f"could not listen on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        sys.exit(1)
    loop = GLib.MainLoop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"ready rtsp://127.0.0.1:{port}/{path}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
