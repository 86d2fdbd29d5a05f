// Felzenszwalb-Huttenlocher graph segmentation (Felzenszwalb & Huttenlocher, IJCV 2004),
// bit-exact with the release's superpixels (docs/method.md, "Superpixels").
//
// Everything that decides the partition is pinned down here:
//   * smoothing: a float32 Gaussian, half-width ceil(4 sigma), normalised to sum 1, applied
//     separably (rows first, then columns) with edge pixels repeated; per pixel the taps are
//     accumulated centre first, then the symmetric pairs (left + right) outwards;
//   * graph: per pixel in raster order, the edges to the right, down, down-right and
//     up-right neighbours; weight = sqrt(dr^2 + dg^2 + db^2) in float32 (summed r, g, b);
//   * order: std::sort by weight alone (operator< on the weight). std::sort is not stable,
//     so edges of equal weight come out in the order libstdc++'s introsort leaves them;
//     calling the same std::sort with the same comparison on the same input sequence
//     reproduces that order exactly (the payload carried along does not change it);
//   * join rule: in that order, components A != B merge when w <= tau(A) and w <= tau(B),
//     tau(C) = k / |C| for a single pixel and w + k / |C| after a merge (float32);
//   * min-size pass: again in sorted order, A != B merge when |A| < min_size or |B| < min_size;
//   * ids: components numbered 0, 1, ... by first appearance in raster order.
//
// Built with -ffp-contract=off (setup.py) so that no fused multiply-add changes a rounding.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_pybuf.h"

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <vector>

namespace {

struct GraphEdge {
    float weight;
    int from;
    int to;
};

inline bool operator<(const GraphEdge &lhs, const GraphEdge &rhs) { return lhs.weight < rhs.weight; }

std::vector<float> gaussian_taps(float sigma) {
    sigma = std::max(sigma, 0.01F);
    const int n_taps = static_cast<int>(std::ceil(sigma * 4.0)) + 1;
    std::vector<float> taps(n_taps);
    for (int t = 0; t < n_taps; ++t) {
        const float z = t / sigma;
        taps[t] = static_cast<float>(std::exp(-0.5 * (z * z)));
    }
    float side = 0.0F;  // the taps either side of the centre, summed outwards
    for (int t = 1; t < n_taps; ++t) side += taps[t];
    const float total = 2 * side + taps[0];
    for (int t = 0; t < n_taps; ++t) taps[t] /= total;
    return taps;
}

// One channel of an interleaved HxWx3 uint8 image, smoothed; result HxW float32.
void smooth_channel(const unsigned char *rgb, int channel, int height, int width,
                    const std::vector<float> &taps, std::vector<float> &rows, std::vector<float> &out) {
    const int n_taps = static_cast<int>(taps.size());
    for (int y = 0; y < height; ++y) {
        const unsigned char *line = rgb + static_cast<size_t>(y) * width * 3 + channel;
        float *dst = &rows[static_cast<size_t>(y) * width];
        for (int x = 0; x < width; ++x) {
            float acc = taps[0] * static_cast<float>(line[3 * x]);
            for (int t = 1; t < n_taps; ++t) {
                const float left = static_cast<float>(line[3 * std::max(x - t, 0)]);
                const float right = static_cast<float>(line[3 * std::min(x + t, width - 1)]);
                acc += taps[t] * (left + right);
            }
            dst[x] = acc;
        }
    }
    for (int y = 0; y < height; ++y) {
        float *dst = &out[static_cast<size_t>(y) * width];
        const float *mid = &rows[static_cast<size_t>(y) * width];
        for (int x = 0; x < width; ++x) dst[x] = taps[0] * mid[x];
        for (int t = 1; t < n_taps; ++t) {
            const float *up = &rows[static_cast<size_t>(std::max(y - t, 0)) * width];
            const float *down = &rows[static_cast<size_t>(std::min(y + t, height - 1)) * width];
            for (int x = 0; x < width; ++x) dst[x] += taps[t] * (up[x] + down[x]);
        }
    }
}

class Forest {
  public:
    explicit Forest(int n) : parent_(n), size_(n, 1) {
        for (int i = 0; i < n; ++i) parent_[i] = i;
    }
    int root(int v) {
        while (parent_[v] != v) {
            parent_[v] = parent_[parent_[v]];  // path halving
            v = parent_[v];
        }
        return v;
    }
    // Merges two roots; returns the surviving root (the larger tree).
    int unite(int ra, int rb) {
        if (size_[ra] < size_[rb]) std::swap(ra, rb);
        parent_[rb] = ra;
        size_[ra] += size_[rb];
        return ra;
    }
    int size(int r) const { return size_[r]; }

  private:
    std::vector<int> parent_;
    std::vector<int> size_;
};

std::vector<GraphEdge> build_graph(const unsigned char *rgb, int height, int width, float sigma) {
    const size_t n_pix = static_cast<size_t>(height) * width;
    const std::vector<float> taps = gaussian_taps(sigma);
    std::vector<float> rows(n_pix), sr(n_pix), sg(n_pix), sb(n_pix);
    smooth_channel(rgb, 0, height, width, taps, rows, sr);
    smooth_channel(rgb, 1, height, width, taps, rows, sg);
    smooth_channel(rgb, 2, height, width, taps, rows, sb);

    auto weight = [&](int p, int q) {
        const float dr = sr[p] - sr[q], dg = sg[p] - sg[q], db = sb[p] - sb[q];
        return std::sqrt(dr * dr + dg * dg + db * db);
    };
    std::vector<GraphEdge> edges;
    edges.reserve(4 * n_pix);
    for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
            const int p = y * width + x;
            const bool has_right = x + 1 < width, has_down = y + 1 < height;
            if (has_right) edges.push_back({weight(p, p + 1), p, p + 1});
            if (has_down) edges.push_back({weight(p, p + width), p, p + width});
            if (has_right && has_down) edges.push_back({weight(p, p + width + 1), p, p + width + 1});
            if (has_right && y > 0) edges.push_back({weight(p, p - width + 1), p, p - width + 1});
        }
    }
    return edges;
}

int segment(const unsigned char *rgb, int height, int width, float sigma, float k, int min_size, int *labels) {
    const int n_pix = height * width;
    std::vector<GraphEdge> edges = build_graph(rgb, height, width, sigma);
    std::sort(edges.begin(), edges.end());

    Forest forest(n_pix);
    std::vector<float> tau(n_pix, k / 1);
    for (const GraphEdge &e : edges) {
        const int ra = forest.root(e.from), rb = forest.root(e.to);
        if (ra == rb || e.weight > tau[ra] || e.weight > tau[rb]) continue;
        const int r = forest.unite(ra, rb);
        tau[r] = e.weight + k / forest.size(r);
    }
    for (const GraphEdge &e : edges) {
        const int ra = forest.root(e.from), rb = forest.root(e.to);
        if (ra != rb && (forest.size(ra) < min_size || forest.size(rb) < min_size)) forest.unite(ra, rb);
    }

    std::vector<int> id_of_root(n_pix, -1);
    int n_ids = 0;
    for (int p = 0; p < n_pix; ++p) {
        int &id = id_of_root[forest.root(p)];
        if (id < 0) id = n_ids++;
        labels[p] = id;
    }
    return n_ids;
}

PyObject *py_segment(PyObject *, PyObject *args) {
    Py_buffer img, out;
    int height, width, min_size;
    float sigma, k;
    if (!PyArg_ParseTuple(args, "y*iiffiw*", &img, &height, &width, &sigma, &k, &min_size, &out)) return nullptr;
    PyObject *result = nullptr;
    const Py_ssize_t n_pix = static_cast<Py_ssize_t>(height) * width;
    if (height < 1 || width < 1 || n_pix > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "image must have 1..2**24 pixels");
    } else if (check_buffer(img, n_pix * 3, 1, "image") && check_buffer(out, n_pix, sizeof(int), "labels")) {
        int n_ids;
        Py_BEGIN_ALLOW_THREADS
        n_ids = segment(static_cast<const unsigned char *>(img.buf), height, width, sigma, k, min_size,
                        static_cast<int *>(out.buf));
        Py_END_ALLOW_THREADS
        result = PyLong_FromLong(n_ids);
    }
    PyBuffer_Release(&img);
    PyBuffer_Release(&out);
    return result;
}

// The permutation std::sort applies to float32 weights (for tests and the reference).
PyObject *py_sort_order(PyObject *, PyObject *args) {
    Py_buffer weights, out;
    if (!PyArg_ParseTuple(args, "y*w*", &weights, &out)) return nullptr;
    PyObject *result = nullptr;
    const Py_ssize_t n = weights.len / static_cast<Py_ssize_t>(sizeof(float));
    if (n <= INT32_MAX && check_buffer(weights, n, sizeof(float), "weights") &&
        check_buffer(out, n, sizeof(int), "order")) {
        const float *w = static_cast<const float *>(weights.buf);
        int *order = static_cast<int *>(out.buf);
        Py_BEGIN_ALLOW_THREADS
        std::vector<GraphEdge> edges(n);
        for (Py_ssize_t i = 0; i < n; ++i) edges[i] = {w[i], static_cast<int>(i), 0};
        std::sort(edges.begin(), edges.end());
        for (Py_ssize_t i = 0; i < n; ++i) order[i] = edges[i].from;
        Py_END_ALLOW_THREADS
        Py_INCREF(Py_None);
        result = Py_None;
    }
    PyBuffer_Release(&weights);
    PyBuffer_Release(&out);
    return result;
}

PyMethodDef methods[] = {
    {"segment", py_segment, METH_VARARGS,
     "segment(rgb, height, width, sigma, k, min_size, labels) -> n: FH ids written into labels (int32)"},
    {"sort_order", py_sort_order, METH_VARARGS,
     "sort_order(weights_f32, order_i32): the permutation std::sort by weight applies"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fh", "Felzenszwalb-Huttenlocher segmentation (C++).", -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__fh(void) { return PyModule_Create(&module); }
