"""The RoI ops' specification: each op's pixel model as float64 NumPy loops.

roi_pool, ps_roi_pool and roi_align of ``detect.ops``, forward and backward,
written a second time from the papers' rules (Fast R-CNN / Caffe, R-FCN,
Mask R-CNN / detectron2; docs/ops.md), apart from csrc/<op>/<op>_geometry.h,
the pixel model that the CPU and CUDA kernels share. Every kernel is checked
against these: tests/ops (through TensorFlow) and tools/cuda_check (the CUDA
kernels, or their per-element bodies on the host). Naive Python loops, one
per output element: slow, for tests on small inputs, never for a model.

NumPy only: importing this loads no TensorFlow (``detect.ops`` does), so the
same references check the CUDA kernels on a machine without TensorFlow.
Features are NHWC, rois [K, 5] = (batch_index, x1, y1, x2, y2) in
input-image pixels, ``scale`` maps pixels to feature cells. Sums are
accumulated and returned in float64; the bin geometry uses the dtype each op
defines it in (``geom`` below), so the references agree with the kernels bin
for bin. ``detect.ops_reference.cases`` makes random inputs that exercise
the rules' special cases.
"""
import math

import numpy as np


def c_round(v):
    """C round(): halves away from zero (np.round rounds halves to even)."""
    v = float(v)
    return math.copysign(math.floor(abs(v) + 0.5), v)


# ----------------------------------------------------------------- roi_pool
def roi_pool_bins(roi, scale, ph, pw, H, W, PH, PW):
    """Fast R-CNN / Caffe bin (hstart, hend, wstart, wend), float32 math."""
    f32 = np.float32
    sw = int(c_round(f32(roi[1]) * f32(scale)))
    sh = int(c_round(f32(roi[2]) * f32(scale)))
    ew = int(c_round(f32(roi[3]) * f32(scale)))
    eh = int(c_round(f32(roi[4]) * f32(scale)))
    rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
    bh, bw = f32(rh) / f32(PH), f32(rw) / f32(PW)
    hs = int(np.floor(f32(ph) * bh)) + sh
    he = int(np.ceil(f32(ph + 1) * bh)) + sh
    ws = int(np.floor(f32(pw) * bw)) + sw
    we = int(np.ceil(f32(pw + 1) * bw)) + sw
    clip = lambda v, n: min(max(v, 0), n)
    return clip(hs, H), clip(he, H), clip(ws, W), clip(we, W)


def roi_pool(features, rois, pooled, scale):
    """Returns (output [K, PH, PW, C] float64, argmax int32, -1 when empty)."""
    N, H, W, C = features.shape
    PH, PW = pooled
    K = rois.shape[0]
    out = np.zeros((K, PH, PW, C))
    arg = np.full((K, PH, PW, C), -1, np.int32)
    for k in range(K):
        n = int(rois[k, 0])
        for ph in range(PH):
            for pw in range(PW):
                hs, he, ws, we = roi_pool_bins(rois[k], scale, ph, pw, H, W, PH, PW)
                for c in range(C):
                    best, best_v = -1, 0.0
                    for h in range(hs, he):  # row-major scan, strict '>'
                        for w in range(ws, we):
                            v = features[n, h, w, c]
                            if best < 0 or v > best_v:
                                best, best_v = h * W + w, v
                    out[k, ph, pw, c] = best_v
                    arg[k, ph, pw, c] = best
    return out, arg


def roi_pool_grad(features_shape, rois, argmax, grad):
    N, H, W, C = features_shape
    gf = np.zeros(features_shape)
    K, PH, PW, _ = grad.shape
    for k in range(K):
        n = int(rois[k, 0])
        for ph in range(PH):
            for pw in range(PW):
                for c in range(C):
                    a = argmax[k, ph, pw, c]
                    if a >= 0:
                        gf[n, a // W, a % W, c] += grad[k, ph, pw, c]
    return gf


# ------------------------------------------------------------- ps_roi_pool
def ps_roi_pool_bins(roi, scale, i, j, G, H, W, geom=np.float64):
    """R-FCN bin (hstart, hend, wstart, wend), arithmetic in ``geom``."""
    g = geom
    sw = g(c_round(roi[1])) * g(scale)
    sh = g(c_round(roi[2])) * g(scale)
    ew = (g(c_round(roi[3])) + g(1)) * g(scale)
    eh = (g(c_round(roi[4])) + g(1)) * g(scale)
    rw, rh = max(ew - sw, g(0.1)), max(eh - sh, g(0.1))
    bh, bw = rh / g(G), rw / g(G)
    hs = int(np.floor(g(i) * bh + sh))
    ws = int(np.floor(g(j) * bw + sw))
    he = int(np.ceil(g(i + 1) * bh + sh))
    we = int(np.ceil(g(j + 1) * bw + sw))
    clip = lambda v, n: min(max(v, 0), n)
    return clip(hs, H), clip(he, H), clip(ws, W), clip(we, W)


def _ps_roi_pool_cells(rois, scale, G, H, W, geom):
    """(k, image, i, j, hs, he, ws, we) of every non-empty bin of every RoI."""
    for k in range(rois.shape[0]):
        n = int(rois[k, 0])
        for i in range(G):
            for j in range(G):
                hs, he, ws, we = ps_roi_pool_bins(rois[k], scale, i, j, G, H, W, geom)
                if he > hs and we > ws:
                    yield k, n, i, j, hs, he, ws, we


def ps_roi_pool(features, rois, output_dim, G, scale, geom=np.float64):
    N, H, W, C = features.shape
    out = np.zeros((rois.shape[0], G, G, output_dim))
    for k, n, i, j, hs, he, ws, we in _ps_roi_pool_cells(rois, scale, G, H, W, geom):
        for c in range(output_dim):
            ch = (c * G + i) * G + j
            out[k, i, j, c] = features[n, hs:he, ws:we, ch].astype(np.float64).mean()
    return out


def ps_roi_pool_grad(features_shape, rois, grad, output_dim, G, scale, geom=np.float64):
    N, H, W, C = features_shape
    gf = np.zeros(features_shape)
    for k, n, i, j, hs, he, ws, we in _ps_roi_pool_cells(rois, scale, G, H, W, geom):
        area = (he - hs) * (we - ws)
        for c in range(output_dim):
            gf[n, hs:he, ws:we, (c * G + i) * G + j] += grad[k, i, j, c] / area
    return gf


# --------------------------------------------------------------- roi_align
def _bilinear_taps(y, x, H, W):
    """detectron2's bilinear_interpolate as [(h, w, weight)] (empty if out)."""
    if y < -1.0 or y > H or x < -1.0 or x > W:
        return []
    y, x = max(y, 0.0), max(x, 0.0)
    yl, xl = int(y), int(x)
    if yl >= H - 1:
        yl = yh = H - 1
        y = float(yl)
    else:
        yh = yl + 1
    if xl >= W - 1:
        xl = xh = W - 1
        x = float(xl)
    else:
        xh = xl + 1
    ly, lx = y - yl, x - xl
    hy, hx = 1.0 - ly, 1.0 - lx
    return [(yl, xl, hy * hx), (yl, xh, hy * lx), (yh, xl, ly * hx), (yh, xh, ly * lx)]


def roi_align_samples(roi, scale, ph, pw, PH, PW, ratio, aligned, H, W, geom=np.float64):
    """[(h, w, weight)] of bin (ph, pw), the 1/count average included."""
    g = geom
    off = g(0.5) if aligned else g(0)
    sw = g(roi[1]) * g(scale) - off
    sh = g(roi[2]) * g(scale) - off
    rw = g(roi[3]) * g(scale) - off - sw
    rh = g(roi[4]) * g(scale) - off - sh
    if not aligned:
        rw, rh = max(rw, g(1)), max(rh, g(1))
    bh, bw = rh / g(PH), rw / g(PW)
    gh = ratio if ratio > 0 else max(int(np.ceil(bh)), 0)
    gw = ratio if ratio > 0 else max(int(np.ceil(bw)), 0)
    count = max(gh * gw, 1)
    taps = []
    for iy in range(gh):
        y = sh + g(ph) * bh + (g(iy) + g(0.5)) * bh / g(gh)
        for ix in range(gw):
            x = sw + g(pw) * bw + (g(ix) + g(0.5)) * bw / g(gw)
            taps += [(h, w, wt / count) for h, w, wt in _bilinear_taps(float(y), float(x), H, W)]
    return taps


def roi_align(features, rois, pooled, scale, ratio, aligned, geom=np.float64):
    N, H, W, C = features.shape
    PH, PW = pooled
    out = np.zeros((rois.shape[0], PH, PW, C))
    for k in range(rois.shape[0]):
        n = int(rois[k, 0])
        for ph in range(PH):
            for pw in range(PW):
                for h, w, wt in roi_align_samples(rois[k], scale, ph, pw, PH, PW, ratio,
                                                  aligned, H, W, geom):
                    out[k, ph, pw] += wt * features[n, h, w].astype(np.float64)
    return out


def roi_align_grad(features_shape, rois, grad, scale, ratio, aligned, geom=np.float64):
    N, H, W, C = features_shape
    K, PH, PW, _ = grad.shape
    gf = np.zeros(features_shape)
    for k in range(K):
        n = int(rois[k, 0])
        for ph in range(PH):
            for pw in range(PW):
                for h, w, wt in roi_align_samples(rois[k], scale, ph, pw, PH, PW, ratio,
                                                  aligned, H, W, geom):
                    gf[n, h, w] += wt * grad[k, ph, pw]
    return gf
