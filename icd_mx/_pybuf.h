// The buffer check shared by the C++ extensions (_fh.cpp, _counts.cpp).
#ifndef ICD_MX_PYBUF_H
#define ICD_MX_PYBUF_H
#include <Python.h>

// True when buf is C-contiguous and holds exactly items x itemsize bytes; else a ValueError naming what.
inline bool check_buffer(const Py_buffer &buf, Py_ssize_t items, Py_ssize_t itemsize, const char *what) {
    if (!PyBuffer_IsContiguous(&buf, 'C') || buf.len != items * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: expected a C-contiguous buffer of %zd items of %zd bytes",
                     what, items, itemsize);
        return false;
    }
    return true;
}
#endif
