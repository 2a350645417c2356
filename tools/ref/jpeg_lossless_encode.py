"""A small JPEG lossless (ITU-T T.81 process 14, Huffman, SOF3) encoder, to
make test streams the decoder in src/io/dicom_codec_jpeg_lossless.c must
read: every predictor 1..7, point transform, restart intervals, several
components, 2..16-bit precision. Not official code: the streams it writes are
checked by decoding them with GDCM (pydicom's gdcm handler) in
make_dicom_codec_fixtures.py, which must give back the input exactly.

encode(arr, precision, predictor, pt=0, restart_rows=0) -> bytes, arr (H, W, C).
"""
import numpy as np

# Huffman code lengths for the SSSS symbols 0..16 (Kraft sum < 1, no all-ones code)
BITS = [0, 1, 3, 3, 3, 3, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0]  # codes of length 1..16
VALS = list(range(17))


def _codes():
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(BITS[length - 1]):
            codes[VALS[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


class _Bits:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value, n):
        for i in range(n - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc, self.n = 0, 0

    def flush(self):  # pad with 1 bits
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)


def _predict(sel, ra, rb, rc):
    if sel == 1: return ra
    if sel == 2: return rb
    if sel == 3: return rc
    if sel == 4: return ra + rb - rc
    if sel == 5: return ra + ((rb - rc) >> 1)
    if sel == 6: return rb + ((ra - rc) >> 1)
    return (ra + rb) >> 1


def _seg(marker, payload):
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def encode(arr, precision, predictor, pt=0, restart_rows=0):
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    h, w, nc = arr.shape
    x = (arr.astype(np.int64) & ((1 << precision) - 1)) >> pt
    codes = _codes()
    out = bytearray(b"\xFF\xD8")
    sof = bytes([precision]) + h.to_bytes(2, "big") + w.to_bytes(2, "big") + bytes([nc])
    for c in range(nc):
        sof += bytes([c + 1, 0x11, 0])
    out += _seg(0xC3, sof)
    out += _seg(0xC4, bytes([0x00]) + bytes(BITS) + bytes(VALS))
    if restart_rows:
        out += _seg(0xDD, (restart_rows * w).to_bytes(2, "big"))
    sos = bytes([nc])
    for c in range(nc):
        sos += bytes([c + 1, 0x00])
    sos += bytes([predictor, 0, pt])
    out += _seg(0xDA, sos)
    bits = _Bits()
    first_row, rst = 0, 0
    p = precision - pt
    for y in range(h):
        if restart_rows and y > 0 and y % restart_rows == 0:
            bits.flush()
            out += bits.out
            bits.out = bytearray()
            out += bytes([0xFF, 0xD0 + rst])
            rst = (rst + 1) & 7
            first_row = y
        for xx in range(w):
            for c in range(nc):
                if y == first_row:
                    pred = (1 << (p - 1)) if xx == 0 else int(x[y, xx - 1, c])
                elif xx == 0:
                    pred = int(x[y - 1, xx, c])
                else:
                    pred = _predict(predictor, int(x[y, xx - 1, c]), int(x[y - 1, xx, c]), int(x[y - 1, xx - 1, c]))
                diff = (int(x[y, xx, c]) - pred) & 0xFFFF
                if diff >= 32768:
                    diff -= 65536
                if diff == -32768:
                    ssss, extra = 16, None
                else:
                    ssss = abs(diff).bit_length()
                    extra = diff if diff >= 0 else diff + (1 << ssss) - 1
                code, length = codes[ssss]
                bits.put(code, length)
                if ssss and ssss < 16:
                    bits.put(extra, ssss)
    bits.flush()
    out += bits.out
    out += b"\xFF\xD9"
    return bytes(out)
