//! `host_buffer`: the memory of an array argument through the C buffer protocol (PEP 3118),
//! the fast way to find a numpy array's address and extent at every launch (reading
//! `__array_interface__` builds a dict and costs over a microsecond per array).
//!
//! The buffer protocol is declared here because the limited API of Python 3.9 (we build
//! `abi3-py39` wheels) leaves it out, although every CPython 3 exports `PyObject_GetBuffer`
//! and `PyBuffer_Release`. `Py_buffer`'s layout has not changed since Python 3.3 and is part
//! of the stable ABI from 3.11.

use std::ffi::{c_char, c_int, c_void};
use std::mem::MaybeUninit;

use pyo3::ffi::{PyObject, Py_ssize_t};
use pyo3::prelude::*;
use tm_abi::HostRange;

/// `Py_buffer` from CPython's `Include/pybuffer.h`.
#[repr(C)]
struct PyBufferView {
    buf: *mut c_void,
    obj: *mut PyObject,
    len: Py_ssize_t,
    itemsize: Py_ssize_t,
    readonly: c_int,
    ndim: c_int,
    format: *mut c_char,
    shape: *mut Py_ssize_t,
    strides: *mut Py_ssize_t,
    suboffsets: *mut Py_ssize_t,
    internal: *mut c_void,
}

/// `PyBUF_STRIDES` (`0x0010 | PyBUF_ND`): shape and strides, any layout, no format string,
/// writable or not.
const PYBUF_STRIDES: c_int = 0x0010 | 0x0008;

extern "C" {
    fn PyObject_GetBuffer(obj: *mut PyObject, view: *mut PyBufferView, flags: c_int) -> c_int;
    fn PyBuffer_Release(view: *mut PyBufferView);
}

/// The memory of one array argument, as `Kernel.launch` takes a buffer (in place of an
/// `(address, start, length, flags)` tuple, and cheaper to make and to read).
#[pyclass(module = "triton_metal._core", frozen)]
pub struct HostBuffer {
    pub range: HostRange,
    /// The array, kept alive as long as this description of its memory (a batch of launches
    /// holds its buffers until it completes).
    _owner: Py<PyAny>,
}

#[pymethods]
impl HostBuffer {
    /// The address of the array's first element (the kernel's pointer).
    #[getter]
    fn address(&self) -> usize {
        self.range.addr
    }
    /// The largest power of two, at most 16, dividing the address (what kernels are
    /// specialised on).
    #[getter]
    fn alignment(&self) -> usize {
        match self.range.addr & 15 {
            0 => 16,
            r => r & r.wrapping_neg(),
        }
    }
    /// `(address, start, length, flags)`: the tuple form `Kernel.launch` also takes.
    fn as_tuple(&self) -> (usize, usize, usize, u32) {
        let r = &self.range;
        (r.addr, r.start, r.len, u32::from(r.writable))
    }
    fn __repr__(&self) -> String {
        let (a, s, l, f) = self.as_tuple();
        format!("HostBuffer(address={a:#x}, start={s:#x}, length={l}, flags={f})")
    }
}

/// The memory of an array exporting the buffer protocol: the address of its first element,
/// the extent of the bytes its shape and strides reach, and whether it may be written. None
/// when `obj` exports no buffer (the caller then falls back to `__array_interface__`).
#[pyfunction]
pub fn host_buffer(obj: &Bound<'_, PyAny>) -> PyResult<Option<Py<HostBuffer>>> {
    let mut view = MaybeUninit::<PyBufferView>::zeroed();
    // SAFETY: `obj` is a live object (we hold the GIL) and `view` is writable storage of
    // Py_buffer's layout.
    if unsafe { PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), PYBUF_STRIDES) } != 0 {
        drop(PyErr::take(obj.py()));
        return Ok(None);
    }
    // SAFETY: a successful GetBuffer filled the view; shape and strides hold `ndim` entries
    // (strides may be NULL for C-contiguous memory) until the view is released.
    let range = unsafe {
        let v = view.assume_init_ref();
        let addr = v.buf as usize;
        let n = usize::try_from(v.ndim).unwrap_or(0);
        let (start, len) = if v.strides.is_null() || n == 0 {
            (addr, v.len.max(0) as usize)
        } else {
            let shape = std::slice::from_raw_parts(v.shape, n);
            let strides = std::slice::from_raw_parts(v.strides, n);
            extent(addr, shape, strides, v.itemsize)
        };
        HostRange {
            addr,
            start,
            len,
            writable: v.readonly == 0,
        }
    };
    // SAFETY: releases the view obtained above, once.
    unsafe { PyBuffer_Release(view.as_mut_ptr()) };
    Py::new(obj.py(), HostBuffer { range, _owner: obj.clone().unbind() }).map(Some)
}

/// `(start, length)` of the bytes a strided array spans (as `_extent` in jit.py).
fn extent(
    addr: usize,
    shape: &[Py_ssize_t],
    strides: &[Py_ssize_t],
    itemsize: Py_ssize_t,
) -> (usize, usize) {
    let (mut lo, mut hi): (isize, isize) = (0, 0);
    for (&d, &s) in shape.iter().zip(strides) {
        if d == 0 {
            return (addr, 0);
        }
        if s > 0 {
            hi += (d - 1) * s;
        } else {
            lo += (d - 1) * s;
        }
    }
    (addr.wrapping_add_signed(lo), (hi - lo + itemsize) as usize)
}
