#!/bin/sh
# Makes the captured-RTP fixtures that drive the media-core tests (tests/proxy/media/).
#
# Each capture is RFC 4571 framed (2-byte big-endian length, then one RTP packet), written by
# GStreamer's own payloader so the tests replay real packets, not hand-made ones:
#   h264_320x240_single_slice.rtp   one slice per picture (threads=1: tune=zerolatency would
#                                   otherwise slice per thread); STAP-A (AUD+SPS+PPS) and FU-A
#   h264_320x240_multi_slice.rtp    four slices per picture (sliced-threads); SPS/PPS as single NALs
# Next to each, the .h264 file is the Annex-B elementary stream that was fed to rtph264pay
# (same pictures), kept so a test can compare bytes without trusting our depacketizer.
#
# Usage: scripts/make_rtp_fixture.sh [OUT_DIR]   (default tests/fixtures; needs gst-launch-1.0
# with x264enc, i.e. gstreamer1.0-plugins-ugly). Deterministic up to x264's own output.
set -eu

out_dir=${1:-tests/fixtures}
mkdir -p "$out_dir"

# $1 = name, $2 = frames, $3 = videotestsrc pattern, $4 = kbit/s,
# $5 = extra x264enc properties, $6 = rtph264pay aggregate mode
capture() {
  # A moving pattern makes P-frames span several packets (FU-A); key-int-max=30 gives an IDR
  # every second at 30 fps; the caps after x264enc force 8-bit 4:2:0 constrained baseline
  # (x264enc's default caps negotiate 10-bit 4:4:4 here). The bitrate keeps the files small.
  gst-launch-1.0 -q \
    videotestsrc num-buffers="$2" $3 \
    ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
    ! x264enc tune=zerolatency key-int-max=30 bitrate="$4" $5 \
    ! video/x-h264,profile=constrained-baseline \
    ! h264parse config-interval=-1 \
    ! video/x-h264,stream-format=byte-stream,alignment=au \
    ! tee name=t \
      t. ! queue ! filesink location="$out_dir/$1.h264" \
      t. ! queue ! rtph264pay mtu=1200 pt=96 aggregate-mode="$6" \
         ! rtpstreampay ! filesink location="$out_dir/$1.rtp"
}

capture h264_320x240_single_slice 90 "pattern=smpte horizontal-speed=4" 400 "threads=1" zero-latency
capture h264_320x240_multi_slice 60 "pattern=pinwheel" 200 "sliced-threads=true threads=4" none

ls -l "$out_dir"/h264_320x240_*
