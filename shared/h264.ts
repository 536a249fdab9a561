// H.264 Annex-B facts shared by the proxy and the agent: NAL unit types, start codes, and the
// few SPS fields a receiver needs (picture size). ITU-T H.264 (08/2021) §7.3–7.4, Annex B;
// the RTP-only types (24–29) come from RFC 6184 §5.2.
//
// NAL unit header, one octet (H.264 §7.3.1, RFC 6184 §1.3):
//
//   +---------------+
//   |0|1|2|3|4|5|6|7|
//   +-+-+-+-+-+-+-+-+
//   |F|NRI|  Type   |
//   +---------------+
//
//   F    forbidden_zero_bit, 1 = the NAL is known to be damaged
//   NRI  nal_ref_idc, 0 = not used for reference (disposable)
//   Type nal_unit_type, see `NalType`

/** nal_unit_type values (H.264 Table 7-1; 24–29 are RTP payload structures, RFC 6184 Table 1). */
export const NalType = {
  slice: 1,
  sliceDataA: 2,
  sliceDataB: 3,
  sliceDataC: 4,
  idr: 5,
  sei: 6,
  sps: 7,
  pps: 8,
  aud: 9,
  endOfSequence: 10,
  endOfStream: 11,
  filler: 12,
  stapA: 24,
  stapB: 25,
  mtap16: 26,
  mtap24: 27,
  fuA: 28,
  fuB: 29,
} as const;

/** The 4-byte Annex-B start code (H.264 §B.1.1: zero_byte + start_code_prefix_one_3bytes). */
export const ANNEX_B_START_CODE: Uint8Array = Uint8Array.of(0, 0, 0, 1);

/** nal_unit_type from a NAL header octet. */
export function nalType(headerByte: number): number {
  return headerByte & 0x1f;
}

/** True for the coded-slice types 1–5 (VCL NAL units, H.264 §7.4.1.2.2). */
export function isVclType(type: number): boolean {
  return type >= NalType.slice && type <= NalType.idr;
}

/**
 * Split an Annex-B byte stream into NAL unit payloads (views, no copies, start codes removed).
 * Accepts 3- and 4-byte start codes; trailing zero bytes before a start code are dropped as
 * trailing_zero_8bits (§B.1.2). Bytes before the first start code are ignored.
 */
export function splitAnnexB(buf: Uint8Array): Uint8Array[] {
  const nals: Uint8Array[] = [];
  let start = -1;
  let i = 0;
  while (i + 2 < buf.length) {
    if (buf[i + 2]! > 1) {
      i += 3;
    } else if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      if (start >= 0) pushTrimmed(nals, buf, start, i);
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start >= 0) pushTrimmed(nals, buf, start, buf.length);
  return nals;
}

function pushTrimmed(nals: Uint8Array[], buf: Uint8Array, start: number, end: number): void {
  while (end > start && buf[end - 1] === 0) end--;
  if (end > start) nals.push(buf.subarray(start, end));
}

/** Join NAL units into one Annex-B buffer, each preceded by a 4-byte start code (one copy). */
export function joinAnnexB(nals: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const nal of nals) size += 4 + nal.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const nal of nals) {
    out.set(ANNEX_B_START_CODE, offset);
    out.set(nal, offset + 4);
    offset += 4 + nal.length;
  }
  return out;
}

/** True when the access unit holds an IDR slice (nal_unit_type 5), i.e. decodes on its own. */
export function isKeyframe(nals: readonly Uint8Array[]): boolean {
  for (const nal of nals) {
    if (nal.length > 0 && nalType(nal[0]!) === NalType.idr) return true;
  }
  return false;
}

/** What `parseSps` reads from a sequence parameter set. */
export interface SpsInfo {
  profileIdc: number;
  levelIdc: number;
  spsId: number;
  chromaFormatIdc: number;
  /** Displayed size after frame cropping (H.264 §7.4.2.1.1, equations 7-19 to 7-22). */
  width: number;
  height: number;
}

/** profile_idc values whose SPS carries chroma_format_idc and bit depths (§7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/**
 * Parse the fields of an SPS NAL unit (header byte included) up to the cropping window
 * (H.264 §7.3.2.1.1). Returns undefined if `nal` is not an SPS or is cut short.
 */
export function parseSps(nal: Uint8Array): SpsInfo | undefined {
  if (nal.length < 4 || nalType(nal[0]!) !== NalType.sps) return undefined;
  const r = new BitReader(unescapeRbsp(nal.subarray(1)));
  const profileIdc = r.bits(8);
  r.bits(8); // constraint_set0..5_flag, reserved_zero_2bits
  const levelIdc = r.bits(8);
  const spsId = r.ue();
  let chromaFormatIdc = 1;
  let separateColourPlane = 0;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) separateColourPlane = r.bits(1);
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.bits(1); // qpprime_y_zero_transform_bypass_flag
    if (r.bits(1)) skipScalingMatrix(r, chromaFormatIdc === 3 ? 12 : 8);
  }
  r.ue(); // log2_max_frame_num_minus4
  skipPicOrderCount(r);
  r.ue(); // max_num_ref_frames
  r.bits(1); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = r.ue() + 1;
  const heightInMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bits(1);
  if (!frameMbsOnly) r.bits(1); // mb_adaptive_frame_field_flag
  r.bits(1); // direct_8x8_inference_flag
  const crop = r.bits(1) ? [r.ue(), r.ue(), r.ue(), r.ue()] : [0, 0, 0, 0];
  if (r.overrun) return undefined;
  // Crop units, §7.4.2.1.1: ChromaArrayType 0 (monochrome or separate planes) crops in luma
  // samples; otherwise in chroma samples (SubWidthC × SubHeightC, Table 6-1).
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const cropUnitX = subWidthC;
  const cropUnitY = subHeightC * (2 - frameMbsOnly);
  const width = widthInMbs * 16 - cropUnitX * (crop[0]! + crop[1]!);
  const height = (2 - frameMbsOnly) * heightInMapUnits * 16 - cropUnitY * (crop[2]! + crop[3]!);
  if (width <= 0 || height <= 0) return undefined;
  return { profileIdc, levelIdc, spsId, chromaFormatIdc, width, height };
}

/** scaling_list() entries of seq_scaling_matrix_present_flag (§7.3.2.1.1.1); values unused. */
function skipScalingMatrix(r: BitReader, lists: number): void {
  for (let i = 0; i < lists; i++) {
    if (!r.bits(1)) continue;
    const size = i < 6 ? 16 : 64;
    let last = 8;
    let next = 8;
    for (let j = 0; j < size && next !== 0 && !r.overrun; j++) {
      next = (last + r.se() + 256) % 256;
      if (next !== 0) last = next;
    }
  }
}

/** pic_order_cnt_type and its dependent fields (§7.3.2.1.1). */
function skipPicOrderCount(r: BitReader): void {
  const type = r.ue();
  if (type === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (type === 1) {
    r.bits(1); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    for (let i = 0; i < cycle && !r.overrun; i++) r.se();
  }
}

/** Remove emulation_prevention_three_byte (00 00 03 → 00 00, §7.4.1). */
export function unescapeRbsp(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  let n = 0;
  let zeros = 0;
  for (const byte of data) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out[n++] = byte;
  }
  return out.subarray(0, n);
}

/** MSB-first bit reader with Exp-Golomb codes (§9.1); reading past the end sets `overrun`. */
class BitReader {
  private pos = 0;
  overrun = false;
  constructor(private readonly data: Uint8Array) {}

  bits(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.pos >> 3;
      if (byte >= this.data.length) {
        this.overrun = true;
        return 0;
      }
      value = value * 2 + ((this.data[byte]! >> (7 - (this.pos & 7))) & 1);
      this.pos++;
    }
    return value;
  }

  /** ue(v): leadingZeroBits zeros, a one, then leadingZeroBits bits (§9.1). */
  ue(): number {
    let zeros = 0;
    while (this.bits(1) === 0) {
      if (this.overrun || ++zeros > 31) {
        this.overrun = true;
        return 0;
      }
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  /** se(v): ue mapped to 0, 1, −1, 2, −2, … (§9.1.1, Table 9-3). */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}
