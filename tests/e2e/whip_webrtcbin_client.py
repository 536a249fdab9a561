#!/usr/bin/python3
"""A standard WHIP client (RFC 9725) built from GStreamer's webrtcbin, for interop tests.

Debian 12's GStreamer 1.22 has no whipsink/whipclientsink, so this does what they do:
videotestsrc -> x264enc -> rtph264pay -> webrtcbin (sendonly, NACK/RTX), non-trickle offer
(POSTed once ICE gathering is complete), answer applied, stream for SECONDS, then DELETE.

With FILE (an .mp4 of H.264), it sends that file twice in a row instead, paced in real
time, the way a file sender does: pre-encoded, so a PLI cannot make a keyframe, and with
rtph264pay's alignment=nal / aggregate-mode=zero-latency packets (AUD, SPS, PPS, SEI marked).

With WHIP_KEYINT=N in the env, x264enc makes a keyframe every N frames (default 30) and
otherwise only when a PLI asks for one (webrtcbin turns it into a force-key-unit event).

With WHIP_OFFER_MODE0=1 in the env, packetization-mode is taken out of the offer before it
is POSTed: the offer webrtcbin makes when its payloader has no caps yet.

usage: whip_webrtcbin_client.py URL TOKEN SECONDS [FILE]
Prints one JSON line on stdout: {"status": 201, "location": ..., "state": ..., "offerH264": [...]}
(offerH264: the offer's a=rtpmap/a=fmtp lines for H264).
"""
import json
import os
import re
import sys
import urllib.error
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

URL, TOKEN, SECONDS = sys.argv[1], sys.argv[2], float(sys.argv[3])
FILE = sys.argv[4] if len(sys.argv) > 4 else None
RTP_CAPS = "application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000"
if FILE is None:
    PIPELINE = (
        "webrtcbin name=webrtc bundle-policy=max-bundle "
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! "
        f"x264enc tune=zerolatency key-int-max={int(os.environ.get('WHIP_KEYINT', '30'))} bitrate=500 ! video/x-h264,profile=constrained-baseline ! "
        f"h264parse config-interval=-1 ! rtph264pay pt=96 ! {RTP_CAPS} ! webrtc."
    )
else:
    # concat keeps the running time going into the second pass; clocksync paces by PTS.
    PIPELINE = (
        "webrtcbin name=webrtc bundle-policy=max-bundle "
        "concat name=c ! clocksync ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=nal ! "
        f"rtph264pay pt=96 config-interval=-1 aggregate-mode=zero-latency ! {RTP_CAPS} ! webrtc. "
        f"filesrc location={FILE} ! qtdemux ! queue ! c. "
        f"filesrc location={FILE} ! qtdemux ! queue ! c."
    )

result = {"status": None, "location": None, "error": None, "offerH264": []}
loop = GLib.MainLoop()
Gst.init(None)
pipe = Gst.parse_launch(PIPELINE)
webrtc = pipe.get_by_name("webrtc")


def request(method, url, body=None):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if body is not None:
        headers["Content-Type"] = "application/sdp"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.headers.get("Location"), res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, None, err.read().decode()


def post_offer():
    offer = webrtc.get_property("local-description").sdp.as_text()
    if os.environ.get("WHIP_OFFER_MODE0"):
        # What webrtcbin offers when its payloader has no caps yet (RFC 6184 §8.1: absent = 0).
        offer = re.sub(r"packetization-mode=\d;?", "", offer)
    if os.environ.get("WHIP_DUMP"):
        sys.stderr.write(offer)
    pts = [l.split(":")[1].split(" ")[0] for l in offer.splitlines() if l.startswith("a=rtpmap:") and "H264/" in l]
    result["offerH264"] = [l for l in offer.splitlines() if any(l.startswith(f"a={k}:{pt} ") for pt in pts for k in ("rtpmap", "fmtp"))]
    status, location, body = request("POST", URL, offer.encode())
    result["status"] = status
    if status != 201:
        result["error"] = body
        loop.quit()
        return False
    result["location"] = urllib.parse.urljoin(URL, location)
    _, sdp = GstSdp.SDPMessage.new_from_text(body)
    answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
    webrtc.emit("set-remote-description", answer, None)
    GLib.timeout_add(int(SECONDS * 1000), finish)
    return False


def on_gathering(element, _pspec):
    if element.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
        GLib.idle_add(post_offer)


def on_offer(promise, _data):
    reply = promise.get_reply()
    offer = reply.get_value("offer")
    webrtc.emit("set-local-description", offer, None)


def on_negotiation_needed(element):
    promise = Gst.Promise.new_with_change_func(on_offer, None)
    element.emit("create-offer", None, promise)


def finish():
    result["state"] = str(webrtc.get_property("connection-state").value_nick)
    if result["location"]:
        result["deleteStatus"] = request("DELETE", result["location"])[0]
    loop.quit()
    return False


webrtc.connect("on-negotiation-needed", on_negotiation_needed)
# Loopback only (nothing may leave the test machine): libnice gathers only this address.
ICE_AGENT = webrtc.get_property("ice-agent")  # keep a reference: PyGObject drops a borrowed one
ICE_AGENT.emit("add-local-ip-address", "127.0.0.1")
webrtc.connect("notify::ice-gathering-state", on_gathering)
pipe.set_state(Gst.State.READY)
for transceiver_index in range(1):
    t = webrtc.emit("get-transceiver", transceiver_index)
    if t is not None:
        t.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        t.set_property("do-nack", True)
pipe.set_state(Gst.State.PLAYING)
GLib.timeout_add(int((SECONDS + 15) * 1000), lambda: (result.update(error="timeout"), loop.quit()))
loop.run()
pipe.set_state(Gst.State.NULL)
print(json.dumps(result), flush=True)
