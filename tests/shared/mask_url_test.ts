import { describe, expect, test } from "bun:test";
import { maskUrl } from "../../shared/mask_url.ts";

describe("maskUrl()", () => {
  test("hides the password of amqp, mqtts and rtsp URLs", () => {
    expect(maskUrl("amqp://user:pass@host:5672/vh")).toBe("amqp://user:***@host:5672/vh");
    expect(maskUrl("mqtts://u:s3cr%40t@127.0.0.1:8883")).toBe("mqtts://u:***@127.0.0.1:8883");
    expect(maskUrl("rtsp://cam:pw@10.0.0.2/stream1")).toBe("rtsp://cam:***@10.0.0.2/stream1");
  });
  test("leaves URLs without a password and plain text alone", () => {
    expect(maskUrl("amqp://host:5672")).toBe("amqp://host:5672");
    expect(maskUrl("rtsp://user@host/s")).toBe("rtsp://user@host/s");
    expect(maskUrl("/dev/video0")).toBe("/dev/video0");
  });
  test("hides every URL password inside a longer text, e.g. an error or gst's stderr", () => {
    expect(maskUrl('Could not open "rtsp://cam:pw@10.0.0.2/s" | connect amqps://vsb:t0p@h:5671 failed'))
      .toBe('Could not open "rtsp://cam:***@10.0.0.2/s" | connect amqps://vsb:***@h:5671 failed');
    expect(maskUrl("mail vsb@example.org at 10:30")).toBe("mail vsb@example.org at 10:30");
  });
});
