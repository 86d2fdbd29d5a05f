// Evaluation counts of one score map in one pass (docs/method.md, "Evaluation").
//
// The same counts as icd_mx.metrics' numpy path (ThresholdSweep.update and PixelAP.update
// on icd_mx.metrics.normalised scores), with every float32 operation in the same order:
//   * normalisation per class map: top = max(max(map), 1e-5f), bottom = max(-min(map), 1e-5f),
//     v = x / (x > 0 ? top : bottom);
//   * the sweep: best = the largest v over the maps (the first map on ties), its class where
//     best > 0, else 0; level = the number of thresholds t (float32) with |best| > t;
//     hist[level][min(gt, 21)][class] += 1;
//   * the pixel AP: bin = int(((v + 1) * 0.5) * bins), (v + 1) * 0.5 in float32 and the product in
//     float32 or in double as numpy 1.23 computes a float32 array times the Python int bins (float32
//     when bins fits in 16 bits, double above: `wide`), clipped to [0, bins - 1]; for valid
//     pixels (gt < 21) pos[c][bin] += 1 where gt == c + 1, else neg[c][bin] += 1.
// Built with -ffp-contract=off (setup.py): no fused multiply-add changes a rounding.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_pybuf.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

const int kLabels = 21;  // background + 20 classes; ground truth >= 21 is not a label

struct Counts {
    const float *scores;    // (n, pixels)
    const int64_t *classes; // (n,) class index 0..19 of each map
    const uint8_t *gt;      // (pixels,)
    const float *thresholds;  // (n_t,) ascending, >= 0
    int n, n_t, bins, n_classes;
    Py_ssize_t pixels;
    bool wide;              // the bin product in double
    int64_t *hist;          // (n_t + 1, 22, 21)
    int64_t *pos, *neg;     // (n_classes, bins)
};

// The largest and the smallest value of a map, in eight lanes that the compiler vectorises (a
// maximum is the same in any order: the inputs are finite, icd_mx.scores refuses anything else).
__attribute__((noinline)) void extremes(const float *__restrict m, Py_ssize_t pixels, float *hi_out, float *lo_out) {
    float hi[8], lo[8];
    for (int j = 0; j < 8; ++j) hi[j] = lo[j] = m[0];
    Py_ssize_t p = 0;
    for (; p + 8 <= pixels; p += 8) {
        for (int j = 0; j < 8; ++j) {
            hi[j] = hi[j] < m[p + j] ? m[p + j] : hi[j];
            lo[j] = m[p + j] < lo[j] ? m[p + j] : lo[j];
        }
    }
    for (; p < pixels; ++p) {
        hi[0] = hi[0] < m[p] ? m[p] : hi[0];
        lo[0] = m[p] < lo[0] ? m[p] : lo[0];
    }
    for (int j = 1; j < 8; ++j) {
        hi[0] = hi[0] < hi[j] ? hi[j] : hi[0];
        lo[0] = lo[j] < lo[0] ? lo[j] : lo[0];
    }
    *hi_out = hi[0];
    *lo_out = lo[0];
}

// One map: its normalised scores v, the running best over the maps so far (the first map
// holding the maximum wins: only a strictly larger v replaces it) and each pixel's bin. Written
// without branches (the label through a mask) so that the compiler vectorises it.
template <bool kFirst, bool kWide>
__attribute__((noinline)) void normalise(const float *__restrict m, Py_ssize_t pixels, float top, float bottom,
                                         int32_t mine, int bins, float *__restrict b, int32_t *__restrict l,
                                         int32_t *__restrict k) {
    const double scale = bins;
    const float scale32 = static_cast<float>(bins);
    const int32_t last = bins - 1;
    for (Py_ssize_t p = 0; p < pixels; ++p) {
        const float x = m[p];
        const float v = x / (x > 0 ? top : bottom);
        if (kFirst) {
            b[p] = v;
            l[p] = mine;
        } else {
            const float o = b[p];
            const int32_t better = -static_cast<int32_t>(v > o);
            b[p] = v > o ? v : o;
            l[p] = (mine & better) | (l[p] & ~better);
        }
        const float half = (v + 1.0F) * 0.5F;
        const int32_t bin = kWide ? static_cast<int32_t>(static_cast<double>(half) * scale)
                                  : static_cast<int32_t>(half * scale32);
        k[p] = bin < 0 ? 0 : (bin > last ? last : bin);
    }
}

// The sweep's counts of one image: each pixel's level, the number of thresholds below |best|
// (thresholds outer, pixels inner: vectorised), its cell [level][min(gt, 21)][label or 0], then
// the histogram; returns the valid pixels. ``k`` is scratch; ``l`` holds the labels on entry.
__attribute__((noinline)) int64_t sweep(const float *__restrict b, int32_t *__restrict l, int32_t *__restrict k,
                                        const uint8_t *__restrict gt, Py_ssize_t pixels,
                                        const float *__restrict thresholds, int n_t, int64_t *__restrict hist) {
    for (Py_ssize_t p = 0; p < pixels; ++p) k[p] = 0;
    for (int t = 0; t < n_t; ++t) {
        const float th = thresholds[t];
        for (Py_ssize_t p = 0; p < pixels; ++p) k[p] += (b[p] < 0 ? -b[p] : b[p]) > th;
    }
    const int32_t width = (kLabels + 1) * kLabels;
    int64_t valid = 0;
    for (Py_ssize_t p = 0; p < pixels; ++p) {
        const int32_t g = gt[p];
        valid += g < kLabels;
        l[p] = k[p] * width + (g < kLabels ? g : kLabels) * kLabels + (b[p] > 0 ? l[p] : 0);
    }
    // neighbouring pixels mostly share a cell: four interleaved copies of the histogram, so that
    // an addition does not wait for the one before it (int32: fewer than 2**31 pixels a map)
    const Py_ssize_t cells = static_cast<Py_ssize_t>(n_t + 1) * width;
    std::vector<int32_t> copies(4 * cells);
    int32_t *__restrict h0 = copies.data(), *__restrict h1 = h0 + cells, *__restrict h2 = h1 + cells,
                        *__restrict h3 = h2 + cells;
    Py_ssize_t p = 0;
    for (; p + 4 <= pixels; p += 4) {
        h0[l[p]] += 1;
        h1[l[p + 1]] += 1;
        h2[l[p + 2]] += 1;
        h3[l[p + 3]] += 1;
    }
    for (; p < pixels; ++p) h0[l[p]] += 1;
    for (Py_ssize_t i = 0; i < cells; ++i) hist[i] += static_cast<int64_t>(h0[i]) + h1[i] + h2[i] + h3[i];
    return valid;
}

int64_t count(const Counts &a) {
    // Vectorised passes (extremes, normalise, the levels) each followed by a scalar pass that only
    // adds counts: the scatter has no division or branchy search in its way. Locals and __restrict:
    // the stores cannot alias the inputs.
    const uint8_t *__restrict gt = a.gt;
    int64_t *__restrict hist = a.hist;
    const Py_ssize_t pixels = a.pixels;
    const int bins = a.bins, n_t = a.n_t;
    std::vector<float> best(pixels);
    std::vector<int32_t> label(pixels);  // the class + 1 of the best map so far; later the histogram index
    std::vector<int32_t> code(pixels);   // the bin of each pixel; later its level
    float *__restrict b = best.data();
    int32_t *__restrict l = label.data();
    int32_t *__restrict k = code.data();
    for (int ch = 0; ch < a.n; ++ch) {
        const float *m = a.scores + ch * pixels;
        float hi, lo;
        extremes(m, pixels, &hi, &lo);
        const float top = std::max(hi, 1e-5F), bottom = std::max(-lo, 1e-5F);
        const int c = static_cast<int>(a.classes[ch]);
        const int32_t mine = c + 1;
        if (ch == 0) {
            if (a.wide) normalise<true, true>(m, pixels, top, bottom, mine, bins, b, l, k);
            else normalise<true, false>(m, pixels, top, bottom, mine, bins, b, l, k);
        } else {
            if (a.wide) normalise<false, true>(m, pixels, top, bottom, mine, bins, b, l, k);
            else normalise<false, false>(m, pixels, top, bottom, mine, bins, b, l, k);
        }
        int64_t *__restrict neg = a.neg + static_cast<Py_ssize_t>(c) * bins;
        int64_t *__restrict pos = a.pos + static_cast<Py_ssize_t>(c) * bins;
        for (Py_ssize_t p = 0; p < pixels; ++p) {
            const int g = gt[p];
            if (g >= kLabels) continue;  // not a label (255)
            (g == mine ? pos : neg)[k[p]] += 1;
        }
    }
    return sweep(b, l, k, gt, pixels, a.thresholds, n_t, hist);
}

PyObject *py_score_counts(PyObject *, PyObject *args) {
    Py_buffer scores, classes, gt, thresholds, hist, pos, neg;
    int n, bins, n_classes, wide;
    Py_ssize_t pixels;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*w*iniip", &scores, &classes, &gt, &thresholds, &hist, &pos, &neg, &n,
                          &pixels, &bins, &n_classes, &wide))
        return nullptr;
    PyObject *result = nullptr;
    const Py_ssize_t n_t = thresholds.len / static_cast<Py_ssize_t>(sizeof(float));
    if (n < 1 || pixels < 1 || bins < 1 || n_classes < 1) {
        PyErr_SetString(PyExc_ValueError, "score_counts: n, pixels, bins and classes must be >= 1");
    } else if (pixels > INT32_MAX || bins > INT32_MAX / 2) {  // int32 counts and indices inside
        PyErr_SetString(PyExc_ValueError, "score_counts: a map of 2**31 pixels or more, or too many bins");
    } else if (check_buffer(scores, n * pixels, sizeof(float), "scores") &&
               check_buffer(classes, n, sizeof(int64_t), "classes") && check_buffer(gt, pixels, 1, "gt") &&
               check_buffer(thresholds, n_t, sizeof(float), "thresholds") &&
               check_buffer(hist, (n_t + 1) * (kLabels + 1) * kLabels, sizeof(int64_t), "hist") &&
               check_buffer(pos, static_cast<Py_ssize_t>(n_classes) * bins, sizeof(int64_t), "pos") &&
               check_buffer(neg, static_cast<Py_ssize_t>(n_classes) * bins, sizeof(int64_t), "neg")) {
        const int64_t *cls = static_cast<const int64_t *>(classes.buf);
        bool ok = true;
        for (int ch = 0; ch < n; ++ch) ok = ok && cls[ch] >= 0 && cls[ch] < n_classes;
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "score_counts: a class index is outside [0, classes)");
        } else {
            Counts a{static_cast<const float *>(scores.buf), cls, static_cast<const uint8_t *>(gt.buf),
                     static_cast<const float *>(thresholds.buf), n, static_cast<int>(n_t), bins, n_classes,
                     pixels, wide != 0, static_cast<int64_t *>(hist.buf), static_cast<int64_t *>(pos.buf),
                     static_cast<int64_t *>(neg.buf)};
            int64_t valid;
            Py_BEGIN_ALLOW_THREADS
            valid = count(a);
            Py_END_ALLOW_THREADS
            result = PyLong_FromLongLong(valid);
        }
    }
    for (Py_buffer *b : {&scores, &classes, &gt, &thresholds, &hist, &pos, &neg}) PyBuffer_Release(b);
    return result;
}

// The terms of binned_ap (icd_mx.metrics) of each row of counts, in its order: per bin with
// positives, from the highest bin down, with T / F the true / false positives above the bin, P the
// row's positives, w = p / P:
//   prec = w * ((T + p) / max(T + F + p + n, 1)),
//   spread = w * ((T + p) / max(T + F + p, 1) - T / max(T + F + n, 1)).
// The sums are integers, exact in double (far below 2**53), so only the divisions, the
// subtraction and the products round, in numpy's order: the same doubles as its array
// expressions. ``kept[r]`` receives the number of terms of row r; the terms of all rows are
// packed one after another.
void ap_terms(const int64_t *__restrict pos, const int64_t *__restrict neg, Py_ssize_t rows, Py_ssize_t bins,
              double *__restrict prec, double *__restrict spread, int64_t *__restrict kept) {
    Py_ssize_t out = 0;
    for (Py_ssize_t r = 0; r < rows; ++r) {
        const int64_t *p = pos + r * bins, *n = neg + r * bins;
        int64_t total = 0;
        for (Py_ssize_t b = 0; b < bins; ++b) total += p[b];
        const double all = static_cast<double>(total);
        int64_t tp = 0, fp = 0;
        const Py_ssize_t first = out;
        for (Py_ssize_t b = bins - 1; b >= 0; --b) {
            if (p[b] > 0) {
                const double t = static_cast<double>(tp), f = static_cast<double>(fp);
                const double pb = static_cast<double>(p[b]), nb = static_cast<double>(n[b]);
                const double w = pb / all;
                prec[out] = w * ((t + pb) / std::max(t + f + pb + nb, 1.0));
                spread[out] = w * ((t + pb) / std::max(t + f + pb, 1.0) - t / std::max(t + f + nb, 1.0));
                ++out;
            }
            tp += p[b];
            fp += n[b];
        }
        kept[r] = out - first;
    }
}

PyObject *py_ap_terms(PyObject *, PyObject *args) {
    Py_buffer pos, neg, prec, spread, kept;
    Py_ssize_t rows, bins;
    if (!PyArg_ParseTuple(args, "y*y*w*w*w*nn", &pos, &neg, &prec, &spread, &kept, &rows, &bins)) return nullptr;
    PyObject *result = nullptr;
    if (rows < 1 || bins < 1) {
        PyErr_SetString(PyExc_ValueError, "ap_terms: rows and bins must be >= 1");
    } else if (check_buffer(pos, rows * bins, sizeof(int64_t), "pos") &&
               check_buffer(neg, rows * bins, sizeof(int64_t), "neg") &&
               check_buffer(prec, rows * bins, sizeof(double), "prec") &&
               check_buffer(spread, rows * bins, sizeof(double), "spread") &&
               check_buffer(kept, rows, sizeof(int64_t), "kept")) {
        Py_BEGIN_ALLOW_THREADS
        ap_terms(static_cast<const int64_t *>(pos.buf), static_cast<const int64_t *>(neg.buf), rows, bins,
                 static_cast<double *>(prec.buf), static_cast<double *>(spread.buf), static_cast<int64_t *>(kept.buf));
        Py_END_ALLOW_THREADS
        Py_INCREF(Py_None);
        result = Py_None;
    }
    for (Py_buffer *b : {&pos, &neg, &prec, &spread, &kept}) PyBuffer_Release(b);
    return result;
}

PyMethodDef methods[] = {
    {"score_counts", py_score_counts, METH_VARARGS,
     "score_counts(scores_f32, classes_i64, gt_u8, thresholds_f32, hist_i64, pos_i64, neg_i64, n, pixels, bins, "
     "n_classes, wide) -> valid pixels: the sweep histogram and the pixel-AP bins of one raw score map, added in place"},
    {"ap_terms", py_ap_terms, METH_VARARGS,
     "ap_terms(pos_i64, neg_i64, prec_f64, spread_f64, kept_i64, rows, bins): binned_ap's terms of each row, "
     "packed row after row into prec and spread; kept[r] the number of row r's"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_counts",
                      "Evaluation counts of score maps and the terms of their binned AP (C++).", -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__counts(void) { return PyModule_Create(&module); }
