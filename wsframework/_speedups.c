/* XOR masking of WebSocket payloads (RFC 6455 section 5.3), word at a time.
 * apply_mask(data, key, offset) -> bytes: data XOR key, starting at key byte `offset`. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *
apply_mask(PyObject *self, PyObject *args)
{
    Py_buffer data, key;
    Py_ssize_t offset = 0;
    if (!PyArg_ParseTuple(args, "y*y*|n", &data, &key, &offset))
        return NULL;
    if (key.len != 4) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the masking key must be 4 bytes");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result == NULL) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&key);
        return NULL;
    }
    const unsigned char *src = (const unsigned char *)data.buf;
    const unsigned char *k = (const unsigned char *)key.buf;
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(result);
    unsigned char rotated[8];
    for (int i = 0; i < 8; i++)
        rotated[i] = k[(i + offset) & 3];
    uint64_t word_key;
    memcpy(&word_key, rotated, 8);
    Py_ssize_t n = data.len, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= word_key;
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ rotated[i & 7];
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    return result;
}

static PyMethodDef methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS, "XOR data with a 4-byte key from a key offset."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "wsframework._speedups", NULL, -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
