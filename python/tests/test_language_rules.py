"""Upstream Triton's language rules that upstream's own test_core.py checks: `is` on tensors,
`x[None, :]` indexing, `tl.const` pointers, shape checks of stores and expand_dims, values
returned from inside a runtime `if`, counting-down `range`, and the errors upstream raises
(type and wording) for what it refuses. Each kernel runs on the CPU executor against numpy."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.compiler.errors import CompilationError


# ----- `is` / `is not`: Python identity, decided at compile time -----


@triton.jit
def _is_kernel(X, Y, S, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(X + offs)
    y = x
    if S is not None:  # a tensor is never None
        x = x * 2
    if X is None:
        x = x * 3
    if y is x:  # x was rebound: not the same value any more
        x = x + 100
    if x is x:
        x = x + 1
    tl.store(Y + offs, x)


def test_is_and_is_not_on_tensors():
    x = np.arange(16, dtype=np.float32)
    y = np.zeros(16, np.float32)
    _is_kernel[(1,)](x, y, 5, N=16)
    np.testing.assert_array_equal(y, x * 2 + 1)


# ----- indexing with None and `:` (upstream's tensor.__getitem__) -----


@triton.jit
def _index_kernel(X, Z, Out, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(X + offs)
    # A scalar pointer indexed [None, None, :] is a [1, 1] block (the `:` past the rank
    # is accepted, as upstream); the value stored through it broadcasts to it.
    z_ptr = Z[None, None, :]
    tl.store(z_ptr, tl.sum(x, axis=0))
    # x[None, :] then [:, :, None]: [1, N] then [1, N, 1].
    y = x[None, :][:, :, None]
    tl.store(Out + offs[None, :, None], y * 2)


def test_index_with_none_inserts_dims_like_upstream():
    x = np.arange(8, dtype=np.int32)
    z = np.zeros(1, np.int32)
    out = np.zeros(8, np.int32)
    _index_kernel[(1,)](x, z, out, N=8)
    assert z[0] == x.sum()
    np.testing.assert_array_equal(out, x * 2)


# ----- shape checks: stores, masks and tl.broadcast_to keep the pointer's rank -----


@triton.jit
def _store_rank_mismatch(X, Z, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(X + offs)
    z = x[:, None]  # [N, 1]
    tl.store(Z + offs[:, None, None] * N * N + offs[None, :, None] * N + offs[None, None, :], z)


@triton.jit
def _store_dim_mismatch(X, Z, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(X + offs)
    z = x[:, None]  # [N, 1]
    big = tl.arange(0, 2 * N)
    tl.store(Z + big[:, None] * 2 * N + big[None, :], z)


def test_store_of_another_rank_is_refused():
    x = np.zeros(8, np.float32)
    z = np.zeros(16 * 16 * 16, np.float32)
    with pytest.raises(CompilationError, match=r"Cannot broadcast, rank mismatch: \[8, 1\], \[8, 8, 8\]") as info:
        _store_rank_mismatch[(1,)](x, z, N=8)
    assert info.value.lineno is not None and "_store_rank_mismatch" in str(info.value)
    with pytest.raises(CompilationError, match=r"the expanded size of the tensor \(16\) must match the existing size \(8\)"):
        _store_dim_mismatch[(1,)](x, z, N=8)


@triton.jit
def _broadcast_rank(X, Y, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(Y + offs[:, None] * N + offs[None, :], tl.broadcast_to(tl.load(X + offs), (N, N)))


def test_broadcast_to_keeps_the_rank():
    x = np.zeros(4, np.float32)
    with pytest.raises(CompilationError, match="rank mismatch"):
        _broadcast_rank[(1,)](x, np.zeros(16, np.float32), N=4)


@triton.jit
def _expand_bad_axis(X, N: tl.constexpr):
    t = tl.expand_dims(tl.arange(0, N), -3)


@triton.jit
def _expand_dup_axes(X, N: tl.constexpr):
    t = tl.expand_dims(tl.arange(0, N), (0, -3))


def test_expand_dims_axis_errors():
    x = np.zeros(1, np.float32)
    with pytest.raises(CompilationError, match=r"invalid axis -3. Expected -2 <= axis < 2") as info:
        _expand_bad_axis[(1,)](x, N=8)
    assert "invalid axis -3" in str(info.value.__cause__)
    with pytest.raises(CompilationError, match=r"duplicate axes, normalized axes = \[0, 0\]"):
        _expand_dup_axes[(1,)](x, N=8)


# ----- kernels without parameters compile (and fail) at their first launch -----


@triton.jit
def _no_params_bad_reshape():
    x = tl.arange(0, 64)
    y = tl.reshape(x, (32,))


@triton.jit
def _no_params_overflow():
    huge: tl.constexpr = 0xFFFFFFFFFFFFFF
    x = tl.full((), 32, dtype=tl.int32)
    y = x + huge


@triton.jit
def _no_params_ok():
    x = tl.arange(0, 16)


def test_kernel_without_parameters_is_compiled():
    with pytest.raises(CompilationError, match="cannot reshape"):
        _no_params_bad_reshape[(1,)]()
    with pytest.raises(triton.TritonError, match="out of range"):
        _no_params_overflow[(1,)]()
    k = _no_params_ok[(2,)]()
    assert "tt.make_range" in k.asm["ttir"]
    assert _no_params_ok[(2,)]() is k


# ----- tl.const pointers -----


@triton.jit
def _const_copy(In: tl.const, Out, N: tl.constexpr):
    offs = tl.arange(0, N)
    p = In + offs  # a pointer computed from a const pointer
    tl.store(Out + offs, tl.load(p) + 1)


def test_const_pointer_is_read():
    x = np.arange(32, dtype=np.float32)
    y = np.zeros(32, np.float32)
    _const_copy[(1,)](x, y, N=32)
    np.testing.assert_array_equal(y, x + 1)


@triton.jit
def _const_store(In: tl.const, Out: tl.const, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(Out + offs, tl.load(In + offs))


@triton.jit
def _const_if(In: tl.const, Out, C: tl.const, choose, N: tl.constexpr):
    offs = tl.arange(0, N)
    if choose:
        dst = C
    else:
        dst = Out
    tl.store(dst + offs, tl.load(In + offs))


@triton.jit
def _const_ternary(In: tl.const, Out, C: tl.const, choose, N: tl.constexpr):
    offs = tl.arange(0, N)
    dst = C if choose else Out
    tl.store(dst + offs, tl.load(In + offs))


@triton.jit
def _pick(a, b, choose_b):
    if choose_b:
        return b
    else:
        return a


@triton.jit
def _const_call(In: tl.const, Out, C: tl.const, choose, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(_pick(Out, C, choose) + offs, tl.load(In + offs))


@triton.jit
def _const_loop(In: tl.const, Out, n, N: tl.constexpr):
    offs = tl.arange(0, N)
    p = In
    for i in range(n):
        p = Out
    tl.store(Out + offs, tl.load(In + offs))


def test_const_pointer_rules_as_upstream():
    x = np.arange(8, dtype=np.float32)
    y = np.zeros(8, np.float32)
    with pytest.raises(CompilationError, match="Cannot store to a constant pointer") as info:
        _const_store[(1,)](x, y, N=8)
    assert "_const_store" in str(info.value)
    with pytest.raises(CompilationError, match="Mismatched type for dst between then block"):
        _const_if[(1,)](x, y, y, 3, N=8)
    with pytest.raises(CompilationError, match="Ternary expression with dynamic condition has inconsistent type"):
        _const_ternary[(1,)](x, y, y, 3, N=8)
    with pytest.raises(CompilationError, match="Inconsistent return types"):
        _const_call[(1,)](x, y, y, 3, N=8)
    with pytest.raises(CompilationError, match="Loop-carried variable p has initial type"):
        _const_loop[(1,)](x, y, 3, N=8)


# ----- values returned from inside a runtime `if` (in called jit functions) -----


@triton.jit
def _add_by_sign(x, s):
    if s > 0:
        return x + 1
    elif s < 0:
        if s < -5:
            return x - 100
        return x - 1
    y = x * 10
    return y


@triton.jit
def _returns_kernel(X, Y, S, N: tl.constexpr):
    offs = tl.arange(0, N)
    pid = tl.program_id(0)
    s = tl.load(S + pid)
    x = tl.load(X + pid * N + offs)
    tl.store(Y + pid * N + offs, _add_by_sign(x, s))


def test_return_value_inside_runtime_if():
    n = 16
    s = np.array([3, -2, 0, -9], np.int32)
    x = np.arange(4 * n, dtype=np.int32)
    y = np.zeros_like(x)
    _returns_kernel[(4,)](x, y, s, N=n)
    expected = x.reshape(4, n).copy()
    expected[0] += 1
    expected[1] -= 1
    expected[2] *= 10
    expected[3] -= 100
    np.testing.assert_array_equal(y.reshape(4, n), expected)


@triton.jit
def _maybe(x, s):
    if s > 0:
        return x + 1


@triton.jit
def _maybe_kernel(X, S):
    tl.store(X, _maybe(tl.load(X), tl.load(S)))


def test_return_value_on_some_paths_only_is_poison_on_the_others():
    # upstream: a path falling off the end of a function that returns a value elsewhere
    # returns a poison value; here it is an unspecified value (zero), and the taken path's
    # value is exact.
    x = np.full(1, 41, np.int32)
    _maybe_kernel[(1,)](x, np.ones(1, np.int32))
    assert x[0] == 42
    x = np.full(1, 41, np.int32)
    _maybe_kernel[(1,)](x, np.zeros(1, np.int32))  # poison stored: any value, no error


@triton.jit
def _return_poison(x):
    a = False  # a plain local: a runtime value for upstream, so `if a:` is a runtime `if`
    if a:
        return x


@triton.jit
def _poison_kernel(Out):
    tl.store(Out, _return_poison(0))


def test_poison_return_of_a_plain_local_condition():
    out = np.full(1, 7, np.int32)
    _poison_kernel[(1,)](out)  # upstream's test_poison_return: compiles and runs


@triton.jit
def _bare(x, s):
    if s > 0:
        return x + 1
    return


@triton.jit
def _bare_kernel(X, S):
    tl.store(X, _bare(tl.load(X), tl.load(S)))


def test_value_and_bare_return_are_inconsistent():
    with pytest.raises(CompilationError, match="Inconsistent return types in _bare"):
        _bare_kernel[(1,)](np.zeros(1, np.int32), np.ones(1, np.int32))


# ----- noinline functions: upstream's rule on their arguments -----


@triton.jit(noinline=True)
def _scale_noinline(v, i):
    return v * i


@triton.jit
def _noinline_block_kernel(X):
    offs = tl.arange(0, 4)
    tl.store(X + offs, _scale_noinline(tl.load(X + offs), 2))


@triton.jit
def _noinline_scalar_kernel(X):
    tl.store(X, _scale_noinline(tl.load(X), 3))


def test_noinline_call_with_block_argument_is_refused():
    # upstream's code generator: "Function ... is marked noinline, but was called with
    # non-scalar argument ..." (test_call[noinline])
    with pytest.raises(CompilationError, match="Function _scale_noinline is marked noinline, but was called with non-scalar argument v"):
        _noinline_block_kernel[(1,)](np.ones(4, np.float32))
    x = np.full(1, 5.0, np.float32)
    _noinline_scalar_kernel[(1,)](x)
    assert x[0] == 15.0


# ----- `a if c else b` for effects only -----


@triton.jit
def _void_ternary(T, F, Out):
    pid = tl.program_id(0)
    tl.store(Out + pid, tl.load(T)) if pid % 2 == 0 else tl.store(Out + pid, tl.load(F))


def test_conditional_expression_of_stores():
    out = np.zeros(6, np.int32)
    _void_ternary[(6,)](np.array([7], np.int32), np.array([-3], np.int32), out)
    np.testing.assert_array_equal(out, [7, -3, 7, -3, 7, -3])


# ----- range() with a negative step -----


@triton.jit
def _count_down(Out, lo, hi, STEP: tl.constexpr, START: tl.constexpr, END: tl.constexpr):
    # Constexpr bounds, then runtime bounds, with a constexpr negative step.
    acc = 0
    n = 0
    for i in range(START, END, STEP):
        acc = acc * 3 + i
        n += 1
    tl.store(Out, acc)
    tl.store(Out + 1, n)
    acc2 = 0
    for j in range(hi, lo, STEP):
        acc2 = acc2 * 3 + j
    tl.store(Out + 2, acc2)


@pytest.mark.parametrize("start, end, step", [(15, -16, -1), (15, -16, -3), (22, 18, -1), (-18, -22, -2), (10, 0, -3), (0, 5, -1)])
def test_range_with_negative_step(start, end, step):
    out = np.zeros(3, np.int64)
    _count_down[(1,)](out, end, start, STEP=step, START=start, END=end)
    acc = 0
    for i in range(start, end, step):
        acc = (acc * 3 + i) & 0xFFFFFFFF
    acc = acc - (1 << 32) if acc >= 1 << 31 else acc
    assert out[0] == acc
    assert out[1] == len(range(start, end, step))
    assert out[2] == acc


# ----- launch-time rules -----


def test_num_warps_not_a_power_of_two():
    @triton.jit
    def k(dst):
        pass

    dst = np.zeros(4, np.float32)
    with pytest.raises(AssertionError, match="must be a power of 2"):
        k[(1,)](dst=dst, num_warps=3)
    with pytest.raises(ValueError, match="must be a power of 2"):
        k[(1,)](dst=dst, num_warps=3)
    k[(1,)](dst=dst, num_warps=2)


@triton.jit
def _narrow_descriptor(ptr):
    desc = tl.make_tensor_descriptor(ptr, [128, 128], [128, 1], [8, 4])
    desc.store([0, 0], tl.zeros([8, 4], dtype=tl.int16))


def test_descriptor_block_of_fewer_than_16_bytes_is_refused():
    with pytest.raises(CompilationError) as info:
        _narrow_descriptor[(1,)](np.zeros((128, 128), np.int16))
    assert "Descriptor block shape must have at least 16 bytes in the last dimension, but got 4 * 2 = 8 bytes" in str(
        info.value.__cause__
    )


# ----- tl.extra.cuda.num_threads() / num_warps(): constexprs of the launch -----


@triton.jit
def _num_threads_kernel(Out):
    num_threads: tl.constexpr = tl.extra.cuda.num_threads()
    offs = tl.arange(0, num_threads)
    tl.store(Out + offs, offs * 0 + tl.extra.cuda.num_warps())


@pytest.mark.parametrize("num_warps", [1, 4, 8])
def test_num_threads_is_num_warps_times_32(num_warps):
    out = np.zeros(512, np.int32)
    _num_threads_kernel[(1,)](out, num_warps=num_warps)
    n = num_warps * 32
    np.testing.assert_array_equal(out[:n], np.full(n, num_warps))
    assert not out[n:].any()


# ----- float64 stays refused, after the errors upstream raises first -----


@triton.jit
def _f64_bitwise(X, Y, Z):
    x = tl.load(X)
    y = tl.load(Y)
    tl.store(Z, x | y)


@triton.jit
def _f64_copy(X, Z):
    tl.store(Z, tl.load(X) * 2)


def test_float64_refusal_comes_after_upstreams_type_errors():
    x = np.zeros(1, np.float64)
    y = np.zeros(1, np.int32)
    with pytest.raises(triton.TritonError, match="invalid operands of type float64 and int32"):
        _f64_bitwise[(1,)](x, y, y)
    with pytest.raises(CompilationError, match="float64 is not supported on Metal") as info:
        _f64_copy[(1,)](x, x.copy())
    # Located at the first float64 value: the load.
    assert "tl.load(X)" in str(info.value)


def test_broadcast_to_shape_as_separate_integers():
    # upstream's signature is broadcast_to(input, *shape): the method form with separate
    # integers, the tuple form and shape= all give the same block (test_shapes_as_params).
    @triton.jit
    def k(Out, N: tl.constexpr):
        a = tl.arange(0, N).expand_dims(-1).broadcast_to(N, N)
        b = tl.broadcast_to(tl.arange(0, N)[None, :], (N, N))
        c = tl.arange(0, N)[:, None].broadcast_to(shape=(N, N))
        tl.static_assert(a.shape == [tl.constexpr(N), tl.constexpr(N)])
        offs = tl.arange(0, N)[:, None] * N + tl.arange(0, N)[None, :]
        tl.store(Out + offs, a * 10000 + b * 100 + c)

    n = 8
    out = np.zeros((n, n), np.int32)
    k[(1,)](out, N=n)
    i = np.arange(n)
    np.testing.assert_array_equal(out, i[:, None] * 10000 + i[None, :] * 100 + i[:, None])
