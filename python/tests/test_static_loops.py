"""`tl.static_range` loops: kept as loops (`scf.for`, a `for` in the MSL) where the body uses
the index only as a runtime value, unrolled where it needs the index as a compile-time
constant (crates/tm-front/src/static_loop.rs). Both forms run on the CPU executor and are
compared with numpy; which form was chosen is read from the kernel's TTIR."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


def loops(k):
    return k.asm["ttir"].count("scf.for")


@triton.jit
def conv1d(x_ptr, w_ptr, out_ptr, n, K: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for k in tl.static_range(K):
        x = tl.load(x_ptr + offs + k, mask=offs + k < n, other=0.0)
        acc += x * tl.load(w_ptr + k)
    tl.store(out_ptr + offs, acc, mask=offs < n)


def conv1d_ref(x, w, n):
    xs = np.where(np.arange(len(x)) < n, x, 0.0).astype(np.float32)
    return sum(xs[k: k + n] * w[k] for k in range(len(w)))


@pytest.mark.parametrize("K", [3, 200, 5000])
def test_a_long_static_loop_with_a_runtime_index_is_a_loop(K):
    n = 300
    x = np.random.default_rng(0).standard_normal(n + K).astype(np.float32)
    w = np.random.default_rng(1).standard_normal(K).astype(np.float32)
    out = np.zeros(n, np.float32)
    k = conv1d[(triton.cdiv(n, 128),)](x, w, out, n, K=K, BLOCK=128)
    np.testing.assert_allclose(out, conv1d_ref(x, w, n), rtol=1e-4, atol=1e-4)
    # Short loops are unrolled as upstream does (their constants help); long ones stay loops,
    # beyond the 4096 iterations an unrolled loop may have.
    assert loops(k) == (0 if K == 3 else 1)
    assert len(k.asm["msl"]) < 20_000


@triton.jit
def conv2d(x_ptr, w_ptr, out_ptr, H, W, pad, KH: tl.constexpr, KW: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for i in tl.static_range(KH):
        r = row + (i - pad)
        for j in tl.static_range(KW):
            c = cols + (j - pad)
            m = (c >= 0) & (c < W) & (r >= 0) & (r < H)
            x = tl.load(x_ptr + r * W + c, mask=m, other=0.0)
            acc += x * tl.load(w_ptr + i * KW + j)
    tl.store(out_ptr + row * W + cols, acc, mask=cols < W)


@pytest.mark.parametrize("KH,KW", [(3, 3), (8, 40), (40, 8)])
def test_nested_static_loops(KH, KW):
    H, W, pad = 20, 50, 2
    img = np.random.default_rng(2).standard_normal((H, W)).astype(np.float32)
    wt = np.random.default_rng(3).standard_normal((KH, KW)).astype(np.float32)
    out = np.zeros((H, W), np.float32)
    k = conv2d[(H,)](img, wt, out, H, W, pad, KH=KH, KW=KW, BLOCK=64)
    padded = np.zeros((H + KH + 2 * pad, W + KW + 2 * pad), np.float32)
    padded[pad: pad + H, pad: pad + W] = img
    ref = sum(padded[i: i + H, j: j + W] * wt[i, j] for i in range(KH) for j in range(KW))
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    if KH * KW > 100:
        assert loops(k) >= 1, "a 320-tap filter is not unrolled whole"


@triton.jit
def carried(x_ptr, out_ptr, sums_ptr, N: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    hi = tl.full([BLOCK], float("-inf"), tl.float32)
    total = tl.sum(acc, axis=0)
    count = tl.program_id(0) * 0
    p = tl.make_block_ptr(x_ptr, shape=(N * BLOCK,), strides=(1,), offsets=(0,), block_shape=(BLOCK,), order=(0,))
    for i in tl.static_range(N):
        x = tl.load(p)
        p = tl.advance(p, (BLOCK,))
        acc = acc * 0.5 + x * (i % 7)
        hi = tl.maximum(hi, x - i)
        total += tl.sum(x, axis=0)
        count += (i // 3) - 1
    tl.store(out_ptr + offs, acc)
    tl.store(out_ptr + BLOCK + offs, hi)
    tl.store(sums_ptr, total)
    tl.store(sums_ptr + 1, count.to(tl.float32))


def test_loop_carried_blocks_scalars_and_block_pointers():
    N, B = 300, 32
    x = np.random.default_rng(4).standard_normal(N * B).astype(np.float32)
    out = np.zeros(2 * B, np.float32)
    sums = np.zeros(2, np.float32)
    k = carried[(1,)](x, out, sums, N=N, BLOCK=B)
    assert loops(k) == 1
    acc = np.zeros(B, np.float32)
    hi = np.full(B, -np.inf, np.float32)
    for i in range(N):
        xi = x[i * B: (i + 1) * B]
        acc = (acc * np.float32(0.5) + xi * np.float32(i % 7)).astype(np.float32)
        hi = np.maximum(hi, xi - np.float32(i))
    np.testing.assert_allclose(out[:B], acc, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out[B:], hi)
    np.testing.assert_allclose(sums[0], x.sum(), rtol=1e-4)
    assert sums[1] == sum(i // 3 - 1 for i in range(N))


@triton.jit
def _scaled(x, K: tl.constexpr):
    tl.static_assert(K >= 0)
    return x * K


@triton.jit
def needs_constant_index(x_ptr, out_ptr, N: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in tl.static_range(N):
        x = tl.load(x_ptr + i * BLOCK + offs)
        # `acc` exists from the first iteration on, `_scaled` takes `i` as a tl.constexpr:
        # both need the index at compile time.
        if i == 0:
            acc = x
        else:
            acc = acc + _scaled(x, i)
    tl.store(out_ptr + offs, acc)


@triton.jit
def constant_accumulator(out_ptr, N: tl.constexpr, BLOCK: tl.constexpr):
    # `s` is a Python integer before the loop: the unrolled loop keeps it one, so it can
    # size a block after the loop.
    s = 0
    for i in tl.static_range(N):
        s += i % 2
    offs = tl.arange(0, s)
    tl.store(out_ptr + offs, offs + s)


@triton.jit
def triangular(x_ptr, out_ptr, N: tl.constexpr, BLOCK: tl.constexpr):
    # The inner loop's bound is the outer index: the outer loop is unrolled.
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for i in tl.static_range(N):
        for j in tl.static_range(i + 1):
            acc += tl.load(x_ptr + j * BLOCK + offs) * (i + 1)
    tl.store(out_ptr + offs, acc)


@triton.jit
def last_value(x_ptr, out_ptr, N: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in tl.static_range(N - 1, -1, -1):
        last = tl.load(x_ptr + i * BLOCK + offs) + i
    # `last` and `i` are read after the loop, as Python leaves them.
    tl.store(out_ptr + offs, last * (i + 1))


def test_static_loops_that_need_the_index_as_a_constant_are_unrolled():
    N, B = 60, 32
    x = np.random.default_rng(5).standard_normal(N * B).astype(np.float32)
    rows = x.reshape(N, B)
    out = np.zeros(B, np.float32)
    k = needs_constant_index[(1,)](x, out, N=N, BLOCK=B)
    assert loops(k) == 0
    np.testing.assert_allclose(out, rows[0] + sum(rows[i] * i for i in range(1, N)), rtol=1e-4, atol=1e-3)

    out = np.zeros(512, np.int32)
    k = constant_accumulator[(1,)](out, N=1024, BLOCK=32)
    assert loops(k) == 0
    np.testing.assert_array_equal(out, np.arange(512) + 512)

    n = 24
    x = np.random.default_rng(6).standard_normal(n * B).astype(np.float32)
    out = np.zeros(B, np.float32)
    triangular[(1,)](x, out, N=n, BLOCK=B)
    ref = sum(x[j * B: (j + 1) * B] * (i + 1) for i in range(n) for j in range(i + 1))
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-3)

    n = 300
    x = np.random.default_rng(7).standard_normal(n * B).astype(np.float32)
    out = np.zeros(B, np.float32)
    last_value[(1,)](x, out, N=n, BLOCK=B)
    np.testing.assert_array_equal(out, x[:B])  # the loop ends with i == 0


@triton.jit
def index_arith(out_ptr, f16_ptr, N: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.int32)
    h = tl.load(f16_ptr + offs)
    for i in tl.static_range(N):
        acc += offs * ((i * 5 + 1) % 4) + (i // 2)
        if i > 3:  # a runtime `if` in the loop
            acc -= 1
        h = h * 1 + (i % 2)  # a weak integer with a float16 block stays float16
    tl.store(out_ptr + offs, acc)
    tl.store(f16_ptr + offs, h)


def test_index_arithmetic_matches_python_integers():
    N, B = 300, 32
    out = np.zeros(B, np.int32)
    h = np.zeros(B, np.float16)
    k = index_arith[(1,)](out, h, N=N, BLOCK=B)
    assert loops(k) == 1
    offs = np.arange(B, dtype=np.int64)
    ref = sum(offs * ((i * 5 + 1) % 4) + i // 2 - (i > 3) for i in range(N))
    np.testing.assert_array_equal(out, ref.astype(np.int32))
    np.testing.assert_array_equal(h, np.full(B, N // 2, np.float16))
    assert "f16" in k.asm["ttir"] and "f32" not in k.asm["ttir"]


@triton.jit
def number_into_carried(out_ptr, n):
    s = 0
    t = tl.program_id(0) * 0 + 1
    for k in range(n):
        s = 5  # a Python number assigned to a loop-carried name takes its literal type
        t = 7
    tl.store(out_ptr, s)
    tl.store(out_ptr + 1, t)


@triton.jit
def number_into_carried_block(out_ptr, n, BLOCK: tl.constexpr):
    x = tl.zeros([BLOCK], dtype=tl.float32)
    for k in range(n):
        x = 0
    tl.store(out_ptr + tl.arange(0, BLOCK), x)


def test_python_numbers_assigned_to_loop_carried_names():
    out = np.zeros(2, np.int32)
    number_into_carried[(1,)](out, 3)
    np.testing.assert_array_equal(out, [5, 7])
    out[:] = 0
    number_into_carried[(1,)](out, 0)
    np.testing.assert_array_equal(out, [0, 1])
    with pytest.raises(triton.CompilationError, match=r"Loop-carried variable x has initial type block\[16\] of float32 but is re-assigned to int32"):
        number_into_carried_block[(1,)](np.zeros(16, np.float32), 2, BLOCK=16)


# The same body kept as a loop and unrolled (`tl.static_assert(i >= 0)` needs `i` as a
# constant) gives the same numbers, for index arithmetic with tensors of several types.
DIFF_CASES = [
    ("x * (i + 1) - i // 3", "float16"),
    ("x + s * i", "int32"),
    ("x // (i % 7 + 1) + (x % (i + 3))", "int32"),
    ("(x < i) | (x > (i - 150) * 2)", "int64"),
    ("x + i", "int16"),  # int16 + a Python int stays int16: unrolled
]


def _body_module(tmp_path, expr):
    src = "import triton_metal as triton\nimport triton_metal.language as tl\n"
    for form, extra in (("loop", ""), ("unrolled", "\n        tl.static_assert(i >= 0)")):
        src += f'''
@triton.jit
def {form}(x_ptr, out_ptr, s, N: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for i in tl.static_range(N):
        y = {expr}
        acc = acc * 0.5 + y.to(tl.float32){extra}
    tl.store(out_ptr + offs, acc)
'''
    import importlib.util

    path = tmp_path / "body.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"body_{abs(hash(expr))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("expr,dtype", DIFF_CASES)
def test_a_static_loop_gives_the_same_numbers_as_a_loop_and_unrolled(tmp_path, expr, dtype):
    mod = _body_module(tmp_path, expr)
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(32) * 40).astype(dtype) if "float" in dtype else rng.integers(0, 100, 32).astype(dtype)
    outs, forms = [], []
    for kernel in (mod.loop, mod.unrolled):
        out = np.zeros(32, np.float32)
        k = kernel[(1,)](x, out, 3, N=300, BLOCK=32)
        outs.append(out)
        forms.append(loops(k))
    assert forms == ([0, 0] if dtype == "int16" else [1, 0])
    np.testing.assert_array_equal(outs[0], outs[1])
