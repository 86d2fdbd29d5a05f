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

int64_t count(const Counts &a) {
    // locals and __restrict: the stores into the counts cannot alias the inputs, so nothing is reloaded
    const float *__restrict scores = a.scores;
    const uint8_t *__restrict gt = a.gt;
    int64_t *__restrict hist = a.hist;
    const Py_ssize_t pixels = a.pixels;
    const int bins = a.bins, n_t = a.n_t;
    const double scale = bins;
    const float scale32 = static_cast<float>(bins);
    const bool wide = a.wide;
    std::vector<float> best(pixels);
    std::vector<int> label(pixels);  // the class + 1 of the best map so far
    for (int ch = 0; ch < a.n; ++ch) {
        const float *__restrict m = scores + ch * pixels;
        float hi = m[0], lo = m[0];
        for (Py_ssize_t p = 1; p < pixels; ++p) {
            hi = std::max(hi, m[p]);
            lo = std::min(lo, m[p]);
        }
        const float top = std::max(hi, 1e-5F), bottom = std::max(-lo, 1e-5F);
        const int c = static_cast<int>(a.classes[ch]);
        int64_t *const tables[2] = {a.neg + static_cast<Py_ssize_t>(c) * bins,
                                    a.pos + static_cast<Py_ssize_t>(c) * bins};
        float *__restrict b = best.data();
        int *__restrict l = label.data();
        for (Py_ssize_t p = 0; p < pixels; ++p) {  // branch-free: ground truth and scores are data
            const float x = m[p];
            const float v = x / (x > 0 ? top : bottom);
            const bool better = ch == 0 || v > b[p];  // the first map holding the maximum wins
            b[p] = better ? v : b[p];
            l[p] = better ? c + 1 : l[p];
            const int g = gt[p];
            const float half = (v + 1.0F) * 0.5F;
            int bin = wide ? static_cast<int>(static_cast<double>(half) * scale) : static_cast<int>(half * scale32);
            bin = std::min(std::max(bin, 0), bins - 1);
            tables[g == c + 1][bin] += g < kLabels;  // not a label (255): adds 0
        }
    }
    const int width = (kLabels + 1) * kLabels;
    int64_t valid = 0;
    for (Py_ssize_t p = 0; p < pixels; ++p) {
        const int g = gt[p];
        valid += g < kLabels;
        const float v = best[p];
        const float magnitude = v < 0 ? -v : v;
        int level = 0;
        while (level < n_t && magnitude > a.thresholds[level]) ++level;
        hist[level * width + std::min(g, kLabels) * kLabels + (v > 0 ? label[p] : 0)] += 1;
    }
    return valid;
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

PyMethodDef methods[] = {
    {"score_counts", py_score_counts, METH_VARARGS,
     "score_counts(scores_f32, classes_i64, gt_u8, thresholds_f32, hist_i64, pos_i64, neg_i64, n, pixels, bins, "
     "n_classes, wide) -> valid pixels: the sweep histogram and the pixel-AP bins of one raw score map, added in place"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_counts", "Evaluation counts of score maps (C++).", -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__counts(void) { return PyModule_Create(&module); }
