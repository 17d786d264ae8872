//! `triton_metal._core`: the Python face of the Rust compiler. It converts
//! Python values to the driver's plain data and back, and turns every error
//! (including a Rust panic) into a Python exception. No compiler logic lives here.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use tm_abi::entry::{Builtin, EntryParam};
use tm_abi::{BufferArg, HostRange, ScalarValue};
use tm_driver::tm_front::{ConstValue, GlobalValue, KernelSource, Module, Namespace, ParamSpec};
use tm_driver::{CompileError, CompileRequest, CompiledKernel, LaunchError};
use tm_ir::DType;

mod host_buffer;

create_exception!(_core, TritonError, PyException, "Base of the errors triton_metal raises about kernels (Triton's `triton.TritonError`).");
create_exception!(_core, CompilationError, TritonError, "A kernel could not be compiled.");
create_exception!(_core, OutOfResources, TritonError, "A kernel needs more than the device allows.");

/// Runs `f`, turning a panic into a Python RuntimeError instead of unwinding into Python.
fn guarded<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(PyRuntimeError::new_err(format!("internal error in triton_metal while {what}: {msg} (please report this)")))
    })
}

fn const_value(obj: &Bound<'_, PyAny>) -> PyResult<ConstValue> {
    if obj.is_none() {
        return Ok(ConstValue::None);
    }
    if let Ok(b) = obj.cast::<pyo3::types::PyBool>() {
        return Ok(ConstValue::Bool(b.is_true()));
    }
    if obj.is_instance_of::<pyo3::types::PyInt>() {
        return obj
            .extract::<i128>()
            .map(ConstValue::Int)
            .map_err(|_| PyValueError::new_err("integer constexpr does not fit in 128 bits"));
    }
    if let Ok(f) = obj.cast::<pyo3::types::PyFloat>() {
        return Ok(ConstValue::Float(f.value()));
    }
    if let Ok(s) = obj.extract::<String>() {
        return Ok(ConstValue::Str(s));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t.iter().map(|i| const_value(&i)).collect::<PyResult<_>>().map(ConstValue::Tuple);
    }
    if let Ok(t) = obj.cast::<PyList>() {
        return t.iter().map(|i| const_value(&i)).collect::<PyResult<_>>().map(ConstValue::Tuple);
    }
    if let Ok(name) = obj.getattr("_tm_pointer_to") {
        let name: String = name.extract()?;
        return DType::parse(&name).map(ConstValue::PtrType).ok_or_else(|| PyValueError::new_err(format!("unknown dtype {name}")));
    }
    if let Ok(name) = obj.getattr("_tm_dtype_name") {
        let name: String = name.extract()?;
        return DType::parse(&name).map(ConstValue::DType).ok_or_else(|| PyValueError::new_err(format!("unknown dtype {name}")));
    }
    let tn = obj.get_type().name()?.to_string();
    Err(PyTypeError::new_err(format!("a value of type {tn} cannot be a tl.constexpr")))
}

fn dtype_of(s: &str) -> PyResult<DType> {
    DType::parse(s).ok_or_else(|| PyValueError::new_err(format!("unknown dtype '{s}'")))
}

/// `(name, source, filename, first_line, col_offset, globals)`.
fn kernel_source(t: &Bound<'_, PyTuple>) -> PyResult<KernelSource> {
    let (name, source, filename, first_line, col_offset, globals): (String, String, String, u32, u32, Bound<'_, PyDict>) =
        t.extract()?;
    Ok(KernelSource { name, source, filename, first_line, col_offset, globals: globals_of(&globals)? })
}

/// Globals (or a module's attributes) described by the Python side as `{name: (kind, payload)}`.
fn globals_of(globals: &Bound<'_, PyDict>) -> PyResult<HashMap<String, GlobalValue>> {
    let mut g = HashMap::new();
    for (k, v) in globals.iter() {
        let k: String = k.extract()?;
        let v = v.cast::<PyTuple>()?;
        let kind: String = v.get_item(0)?.extract()?;
        let payload = v.get_item(1)?;
        let gv = match kind.as_str() {
            "namespace" => {
                let (name, attrs): (String, Bound<'_, PyDict>) = payload.extract()?;
                GlobalValue::Namespace(Arc::new(Namespace { name, attrs: globals_of(&attrs)? }))
            }
            "module" => GlobalValue::Module(match payload.extract::<String>()?.as_str() {
                "triton" => Module::Triton,
                "triton.language.math" => Module::Math,
                _ => Module::Language,
            }),
            "const" => match const_value(&payload) {
                Ok(c) => GlobalValue::Const(c),
                Err(_) => GlobalValue::Unsupported(payload.get_type().name()?.to_string()),
            },
            "builtin" => GlobalValue::Builtin(payload.extract::<String>()?),
            "jit" => GlobalValue::JitFunction(Arc::new(kernel_source(payload.cast::<PyTuple>()?)?)),
            _ => GlobalValue::Unsupported(payload.extract::<String>().unwrap_or_default()),
        };
        g.insert(k, gv);
    }
    Ok(g)
}


fn param_spec(t: &Bound<'_, PyAny>) -> PyResult<ParamSpec> {
    let t = t.cast::<PyTuple>()?;
    let kind: String = t.get_item(0)?.extract()?;
    Ok(match kind.as_str() {
        "ptr" => ParamSpec::Pointer { dtype: dtype_of(&t.get_item(1)?.extract::<String>()?)?, divisibility: t.get_item(2)?.extract()? },
        "int" => ParamSpec::Int { dtype: dtype_of(&t.get_item(1)?.extract::<String>()?)?, divisibility: t.get_item(2)?.extract()? },
        "float" => ParamSpec::Float { dtype: dtype_of(&t.get_item(1)?.extract::<String>()?)? },
        "constexpr" => ParamSpec::Constexpr(const_value(&t.get_item(1)?)?),
        other => return Err(PyValueError::new_err(format!("unknown parameter kind '{other}'"))),
    })
}

fn compilation_error(py: Python<'_>, e: CompileError) -> PyErr {
    match e {
        CompileError::Source(d) => {
            let err = CompilationError::new_err(d.to_string());
            let v = err.value(py);
            let _ = v.setattr("filename", d.filename.clone());
            let _ = v.setattr("lineno", d.line);
            let _ = v.setattr("col", d.col);
            let _ = v.setattr("source_line", d.source_line.clone());
            let _ = v.setattr("error_message", d.message.clone());
            // Upstream raises CompilationError from the error its semantic layer raised; code
            // that reads `__cause__` for the reason finds it here.
            err.set_cause(py, Some(PyValueError::new_err(d.message.clone())));
            err
        }
        CompileError::Resources(m) => OutOfResources::new_err(m),
        CompileError::Internal(m) => PyRuntimeError::new_err(m),
    }
}

/// Parameters of a jit function: list of `(name, is_constexpr)`.
#[pyfunction]
fn kernel_params(py: Python<'_>, src: &Bound<'_, PyTuple>) -> PyResult<Vec<(String, bool)>> {
    guarded("reading a kernel signature", || {
        let ks = kernel_source(src)?;
        tm_driver::tm_front::kernel_params(&ks)
            .map(|ps| ps.into_iter().map(|p| (p.name, p.constexpr)).collect())
            .map_err(|d| compilation_error(py, CompileError::Source(d)))
    })
}

/// A kernel compiled for one specialisation.
#[pyclass(module = "triton_metal._core", frozen)]
struct Kernel {
    inner: CompiledKernel,
    /// What `kernel[grid](*args)` needs to pack arguments (the JITFunction and the specs),
    /// given by the JIT at compile time; None for kernels compiled otherwise.
    launch_info: Option<Py<PyAny>>,
}

#[pymethods]
impl Kernel {
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// Texts of each stage, like Triton's `CompiledKernel.asm`.
    #[getter]
    fn asm<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("ttir", &self.inner.ttir)?;
        d.set_item("ttir_opt", &self.inner.ttir_opt)?;
        d.set_item("layout", &self.inner.layouts)?;
        d.set_item("msl", &self.inner.msl)?;
        Ok(d)
    }
    #[getter]
    fn launch_info(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.launch_info.as_ref().map(|i| i.clone_ref(py))
    }
    /// `kernel[grid](*args)`, as on Triton's `CompiledKernel` (what `JITFunction.run` returns):
    /// the arguments are packed by `triton_metal.runtime.jit._compiled_runner`.
    fn __getitem__(slf: &Bound<'_, Self>, grid: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let runner = slf.py().import("triton_metal.runtime.jit")?.getattr("_compiled_runner")?;
        Ok(runner.call1((slf, grid))?.unbind())
    }
    #[getter]
    fn timings(&self) -> Vec<(String, f64)> {
        self.inner.timings.iter().map(|(s, d)| (s.clone(), d.as_secs_f64())).collect()
    }
    #[getter]
    fn num_buffers(&self) -> usize {
        self.inner.abi.buffers.len()
    }
    #[getter]
    fn scalar_dtypes(&self) -> Vec<&'static str> {
        self.inner.abi.scalars.iter().map(|s| s.dtype.triton_name()).collect()
    }
    #[getter]
    fn threads_per_threadgroup(&self) -> u32 {
        self.inner.abi.threads_per_threadgroup
    }
    #[getter]
    fn threadgroup_memory_bytes(&self) -> u32 {
        self.inner.abi.threadgroup_bytes
    }

    /// The launch ABI: buffers, the packed scalar struct, threads and threadgroup memory.
    #[getter]
    fn abi<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let a = &self.inner.abi;
        let d = PyDict::new(py);
        d.set_item("kernel_name", &a.kernel_name)?;
        let buffers: Vec<(&str, &str)> = a.buffers.iter().map(|b| (b.name.as_str(), b.dtype.triton_name())).collect();
        d.set_item("buffers", buffers)?;
        // The pointer parameters the kernel stores to or updates atomically.
        let written: Vec<&str> = a.buffers.iter().filter(|b| b.written).map(|b| b.name.as_str()).collect();
        d.set_item("written_buffers", written)?;
        d.set_item("thread_private_bytes", a.thread_private_bytes)?;
        let scalars: Vec<(&str, &str, u32)> =
            a.scalars.iter().map(|s| (s.name.as_str(), s.dtype.triton_name(), s.offset)).collect();
        d.set_item("scalars", scalars)?;
        d.set_item("args_struct", a.args_struct_name())?;
        d.set_item("args_size", a.args_size)?;
        d.set_item("threads_per_threadgroup", a.threads_per_threadgroup)?;
        d.set_item("threadgroup_memory_bytes", a.threadgroup_bytes)?;
        d.set_item("uses_sync", a.uses_sync)?;
        Ok(d)
    }

    /// Checks scalar arguments (signature order) as a launch would: TypeError when one does
    /// not fit its type. For launchers that pass scalars their own way (`runtime/mps.py`).
    fn check_scalars(&self, scalars: &Bound<'_, PyList>) -> PyResult<()> {
        guarded("checking scalar arguments", || {
            let vals = scalar_values(scalars)?;
            let mut packed = Vec::new();
            self.inner
                .abi
                .pack_scalars(&vals, &mut packed)
                .map_err(|e| PyTypeError::new_err(format!("kernel '{}': {e}", self.inner.name)))
        })
    }

    /// For each pointer argument: whether the kernel may write through it.
    #[getter]
    fn written(&self) -> Vec<bool> {
        self.inner.abi.buffers.iter().map(|b| b.written).collect()
    }

    /// For each pointer argument: whether the kernel may read through it.
    #[getter]
    fn read(&self) -> Vec<bool> {
        self.inner.abi.buffers.iter().map(|b| b.read).collect()
    }

    /// The kernel as `torch.mps.compile_shader` launches it: a dict with `msl`, `entry`,
    /// `threads_per_threadgroup`, `threadgroup_bytes`, `params` (the entry's parameters, as
    /// `cpu_run_entry` takes them) and `args_size`. ValueError when it cannot have that form.
    fn torch_variant<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let v = guarded("generating the PyTorch entry", || {
            self.inner.torch_variant().map_err(|e| PyValueError::new_err(e.to_string()))
        })?;
        let d = PyDict::new(py);
        d.set_item("msl", &v.msl)?;
        d.set_item("entry", &v.entry)?;
        d.set_item("params", entry_params(py, &v.params)?)?;
        d.set_item("args_size", v.args_size)?;
        d.set_item("threads_per_threadgroup", v.threads_per_threadgroup)?;
        d.set_item("threadgroup_bytes", v.threadgroup_bytes)?;
        Ok(d)
    }

    /// The kernel as `mx.fast.metal_kernel` takes it: a dict with `header`, `source`,
    /// `inputs` (`(name, "buffer" | "scalar", index)`), `outputs` (`(name, buffer slot)`),
    /// `threads_per_threadgroup`, `threadgroup_bytes`.
    fn mlx_variant<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let v = guarded("generating the MLX entry", || {
            self.inner.mlx_variant().map_err(|e| PyValueError::new_err(e.to_string()))
        })?;
        let d = PyDict::new(py);
        d.set_item("header", &v.header)?;
        d.set_item("source", &v.source)?;
        let inputs: Vec<(String, &str, usize)> = v
            .inputs
            .iter()
            .map(|(n, s)| match s {
                tm_abi::ParamSlot::Buffer(i) => (n.clone(), "buffer", *i),
                tm_abi::ParamSlot::Scalar(j) => (n.clone(), "scalar", *j),
                tm_abi::ParamSlot::Elided => (n.clone(), "elided", 0),
            })
            .collect();
        d.set_item("inputs", inputs)?;
        d.set_item("outputs", v.outputs.clone())?;
        d.set_item("threads_per_threadgroup", v.threads_per_threadgroup)?;
        d.set_item("threadgroup_bytes", v.threadgroup_bytes)?;
        Ok(d)
    }

    /// Builds the runtime library now instead of at the first launch.
    fn prepare(&self, py: Python<'_>) -> PyResult<()> {
        guarded("preparing a kernel", || py.detach(|| self.inner.prepare()).map_err(launch_error))
    }

    /// Runs the kernel over `grid` (x, y, z) programs and waits for it. Each buffer is a
    /// `HostBuffer` (from `host_buffer`) or `(address, start, length, flags)`: the kernel's
    /// pointer and the extent of the array's memory; flags bit 0 = writable, bit 1 =
    /// `address` is an `id<MTLBuffer>` and `start` the pointer's byte offset in it (PyTorch
    /// MPS). With `TRITON_METAL_DRY_RUN=1` it returns once the arguments are packed.
    fn launch(
        &self,
        py: Python<'_>,
        grid: (u32, u32, u32),
        buffers: &Bound<'_, PyList>,
        scalars: &Bound<'_, PyList>,
    ) -> PyResult<()> {
        guarded("launching a kernel", || {
            let vals = scalar_values(scalars)?;
            let mut bufs = Vec::with_capacity(buffers.len());
            let mut all_held = true;
            for b in buffers.iter() {
                bufs.push(match b.cast::<host_buffer::HostBuffer>() {
                    Ok(h) => BufferArg::Host(h.get().range),
                    Err(_) => {
                        all_held = false;
                        buffer_arg(b.extract()?)
                    }
                });
            }
            if BATCH_DEPTH.with(|d| d.get()) > 0 {
                if all_held {
                    // The arrays must outlive the queued launch: the batch holds them.
                    BATCH_KEEP.with(|k| k.borrow_mut().push(buffers.clone().into_any().unbind()));
                } else {
                    // Memory given as a bare address: nothing keeps it alive, so what is
                    // queued runs first and this launch completes before it returns.
                    py.detach(tm_driver::batch_flush).map_err(launch_error)?;
                }
            }
            let grid = [grid.0, grid.1, grid.2];
            py.detach(move || {
                // SAFETY: the memory belongs to live arrays the Python caller holds for the
                // whole call (numpy, MLX, torch; extents computed from their shapes and
                // strides), and launch waits for the kernel; like Triton, we trust the kernel
                // to stay inside them.
                unsafe { self.inner.launch(grid, &bufs, &vals) }
            })
            .map_err(launch_error)
        })
    }
}

fn entry_params<'py>(py: Python<'py>, params: &[EntryParam]) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for p in params {
        match p {
            EntryParam::Buffer { slot } => out.append(("buffer", *slot))?,
            EntryParam::Scalar { dtype, offset } => out.append(("scalar", dtype.triton_name(), *offset))?,
            EntryParam::Builtin(b) => out.append(("builtin", b.attribute()))?,
        }
    }
    Ok(out)
}

fn entry_param(p: &Bound<'_, PyAny>) -> PyResult<EntryParam> {
    let kind: String = p.get_item(0)?.extract()?;
    Ok(match kind.as_str() {
        "buffer" => EntryParam::Buffer { slot: p.get_item(1)?.extract()? },
        "scalar" => EntryParam::Scalar { dtype: dtype_of(&p.get_item(1)?.extract::<String>()?)?, offset: p.get_item(2)?.extract()? },
        "builtin" => {
            let attr: String = p.get_item(1)?.extract()?;
            EntryParam::Builtin(
                Builtin::from_attribute(&attr).ok_or_else(|| PyValueError::new_err(format!("unknown kernel attribute '{attr}'")))?,
            )
        }
        other => return Err(PyValueError::new_err(format!("unknown entry parameter kind '{other}'"))),
    })
}

/// Runs an entry point with its own signature on the CPU executor and waits: how the MSL a
/// framework's launcher receives (`Kernel.torch_variant`, or MLX's kernel around
/// `Kernel.mlx_variant`) is executed where that framework is absent (the test suite's fakes).
/// `params` as `Kernel.torch_variant` gives them; `buffer_types` `(name, dtype)` per buffer;
/// `buffers` `(address, start, length, flags)` host memory; `args` the scalars packed with
/// C layout of `scalar_dtypes`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn cpu_run_entry(
    py: Python<'_>,
    msl: &str,
    entry: &str,
    params: &Bound<'_, PyList>,
    buffer_types: Vec<(String, String)>,
    scalar_dtypes: Vec<String>,
    threads_per_threadgroup: u32,
    threadgroup_bytes: u32,
    grid: (u32, u32, u32),
    buffers: Vec<(usize, usize, usize, u32)>,
    args: Vec<u8>,
) -> PyResult<()> {
    guarded("running a kernel entry", || {
        let params = params.iter().map(|p| entry_param(&p)).collect::<PyResult<Vec<_>>>()?;
        let types = buffer_types
            .iter()
            .map(|(n, d)| Ok(tm_abi::BufferParam { name: n.clone(), dtype: dtype_of(d)?, read: true, written: true }))
            .collect::<PyResult<Vec<_>>>()?;
        let scalars = scalar_dtypes.iter().map(|d| dtype_of(d)).collect::<PyResult<Vec<_>>>()?;
        let ranges: Vec<HostRange> = buffers
            .iter()
            .map(|&(addr, start, len, flags)| HostRange { addr, start, len, writable: flags & 1 != 0 })
            .collect();
        py.detach(|| {
            // SAFETY: as Kernel.launch: live host arrays held by the caller for the call.
            unsafe {
                tm_driver::run_entry_on_cpu(
                    msl,
                    entry,
                    &params,
                    &types,
                    &scalars,
                    threads_per_threadgroup,
                    threadgroup_bytes,
                    [grid.0, grid.1, grid.2],
                    &ranges,
                    &args,
                )
            }
        })
        .map_err(launch_error)
    })
}

thread_local! {
    static BATCH_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static BATCH_KEEP: std::cell::RefCell<Vec<Py<PyAny>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Starts (or nests in) a batch of this thread's launches (`triton_metal.batch()`).
#[pyfunction]
fn batch_begin() {
    BATCH_DEPTH.with(|d| d.set(d.get() + 1));
    tm_driver::batch_begin();
}

/// Ends a batch; the outermost end waits for the queued launches (RuntimeError if one failed)
/// and releases the arrays they used.
#[pyfunction]
fn batch_end(py: Python<'_>) -> PyResult<()> {
    let depth = BATCH_DEPTH.with(|d| {
        let n = d.get().saturating_sub(1);
        d.set(n);
        n
    });
    let done = py.detach(tm_driver::batch_end);
    if depth == 0 {
        BATCH_KEEP.with(|k| k.borrow_mut().clear());
    }
    done.map_err(launch_error)
}

/// Python ints and floats as the driver's scalar values.
fn scalar_values(scalars: &Bound<'_, PyList>) -> PyResult<Vec<ScalarValue>> {
    let mut vals = Vec::with_capacity(scalars.len());
    for s in scalars.iter() {
        vals.push(if s.is_instance_of::<pyo3::types::PyFloat>() {
            ScalarValue::Float(s.extract()?)
        } else if let Ok(i) = s.extract::<i64>() {
            ScalarValue::Int(i.into()) // the common case, without a 128-bit conversion
        } else {
            ScalarValue::Int(s.extract()?)
        });
    }
    Ok(vals)
}

/// `(address, start, length, flags)` from Python, as `Kernel.launch` documents.
fn buffer_arg((addr, start, len, flags): (usize, usize, usize, u32)) -> BufferArg {
    if flags & 2 != 0 {
        BufferArg::Metal { buffer: addr, offset: start, len }
    } else {
        BufferArg::Host(HostRange { addr, start, len, writable: flags & 1 != 0 })
    }
}

fn launch_error(e: LaunchError) -> PyErr {
    match e {
        LaunchError::BadArguments(m) => PyTypeError::new_err(m),
        LaunchError::BadValue(m) => PyValueError::new_err(m),
        LaunchError::Runtime(m) => PyRuntimeError::new_err(m),
        LaunchError::Resources(m) => OutOfResources::new_err(m),
    }
}

/// The device kernels run on (`triton_metal.runtime.driver`): Metal's GPU on a Mac, the CPU
/// executor elsewhere. Raises RuntimeError when there is no usable device.
#[pyfunction]
fn device_info<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    let i = guarded("reading the device", || tm_driver::device_info().map_err(launch_error))?;
    let d = PyDict::new(py);
    d.set_item("backend", i.backend)?;
    d.set_item("device_name", i.name)?;
    d.set_item("chip", i.chip)?;
    d.set_item("gpu_family", i.gpu_family)?;
    d.set_item("max_threads_per_threadgroup", i.max_threads_per_threadgroup)?;
    d.set_item("max_threadgroup_memory", i.max_threadgroup_memory)?;
    d.set_item("simd_width", i.simd_width)?;
    d.set_item("unified_memory_bytes", i.unified_memory_bytes)?;
    d.set_item("recommended_working_set_bytes", i.recommended_working_set_bytes)?;
    d.set_item("msl_version", format!("{}.{}", i.msl_version.0, i.msl_version.1))?;
    d.set_item("supports_bfloat", i.supports_bfloat)?;
    Ok(d)
}

/// `(current, peak)` bytes of device memory triton_metal allocated (staging copies).
#[pyfunction]
fn memory_stats() -> (u64, u64) {
    let m = tm_driver::memory_stats();
    (m.current_bytes, m.peak_bytes)
}

/// Compiles `src` specialised by `specs` with `num_warps` warps per program. With
/// `cache=False` the kernel cache (memory and disk) is bypassed: it compiles from source.
/// `launch_info` is kept for `kernel[grid](*args)` (see `Kernel.__getitem__`).
#[pyfunction]
#[pyo3(signature = (src, specs, num_warps, cache = true, launch_info = None))]
fn compile(
    py: Python<'_>,
    src: &Bound<'_, PyTuple>,
    specs: &Bound<'_, PyList>,
    num_warps: u32,
    cache: bool,
    launch_info: Option<Py<PyAny>>,
) -> PyResult<Kernel> {
    guarded("compiling a kernel", || {
        let source = kernel_source(src)?;
        let specs = specs.iter().map(|s| param_spec(&s)).collect::<PyResult<Vec<_>>>()?;
        let req = CompileRequest { source, specs, num_warps };
        let compile = if cache { tm_driver::compile } else { tm_driver::compile_without_cache };
        let inner = py.detach(|| compile(&req)).map_err(|e| compilation_error(py, e))?;
        Ok(Kernel { inner, launch_info })
    })
}

/// Does nothing: the floor a launch's cost is measured against (`benchmarks/launch_overhead.py`).
#[pyfunction]
fn noop() {}

/// Whether launches stop before running anything (`TRITON_METAL_DRY_RUN=1`).
#[pyfunction]
fn dry_run() -> bool {
    tm_driver::dry_run_enabled()
}

/// This compiler build's identity (part of every kernel cache key).
#[pyfunction]
fn compiler_version() -> &'static str {
    tm_driver::cache::compiler_version()
}

/// The persistent kernel cache directory, or None when kernels are cached in memory only.
#[pyfunction]
fn kernel_cache_dir() -> Option<String> {
    tm_driver::cache::cache_dir().map(|p| p.to_string_lossy().into_owned())
}

/// Path of the clang++ the CPU executor uses; raises RuntimeError saying what was tried.
#[pyfunction]
fn cpu_compiler() -> PyResult<String> {
    tm_driver::cpu_compiler_path().map(|p| p.to_string_lossy().into_owned()).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// Names of the `tl.*` functions the compiler implements.
#[pyfunction]
fn language_functions() -> Vec<&'static str> {
    let f = &tm_driver::tm_front::LANGUAGE_FUNCTIONS;
    f.iter().chain(tm_driver::tm_front::LIBDEVICE_FUNCTIONS).copied().collect()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("TritonError", m.py().get_type::<TritonError>())?;
    m.add("CompilationError", m.py().get_type::<CompilationError>())?;
    m.add("OutOfResources", m.py().get_type::<OutOfResources>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(kernel_params, m)?)?;
    m.add_function(wrap_pyfunction!(compile, m)?)?;
    m.add_function(wrap_pyfunction!(language_functions, m)?)?;
    m.add_function(wrap_pyfunction!(compiler_version, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_cache_dir, m)?)?;
    m.add_function(wrap_pyfunction!(cpu_compiler, m)?)?;
    m.add_function(wrap_pyfunction!(device_info, m)?)?;
    m.add_function(wrap_pyfunction!(memory_stats, m)?)?;
    m.add_function(wrap_pyfunction!(noop, m)?)?;
    m.add_function(wrap_pyfunction!(cpu_run_entry, m)?)?;
    m.add_function(wrap_pyfunction!(batch_begin, m)?)?;
    m.add_function(wrap_pyfunction!(batch_end, m)?)?;
    m.add_function(wrap_pyfunction!(dry_run, m)?)?;
    m.add_function(wrap_pyfunction!(host_buffer::host_buffer, m)?)?;
    m.add_class::<Kernel>()?;
    m.add_class::<host_buffer::HostBuffer>()?;
    Ok(())
}
