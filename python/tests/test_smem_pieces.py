"""Blocks larger than Metal's 32 KiB of threadgroup memory move between layouts, and through
`trans`/`permute`/`reshape`/`join`/`cat`, in pieces that fit (rows at a time, a range of a
row too long on its own, or a range of the staging order), so only kernels that truly need
more are refused. Executed on the CPU executor against numpy."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

LIMIT = 32 * 1024


@triton.jit
def strided_copy(X, stride_xm, stride_xn, Z, stride_zm, stride_zn, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # upstream test_permute's kernel: loaded along one dim, stored along the other
    off_m = tl.arange(0, BLOCK_M)
    off_n = tl.arange(0, BLOCK_N)
    Xs = X + off_m[:, None] * stride_xm + off_n[None, :] * stride_xn
    Zs = Z + off_m[:, None] * stride_zm + off_n[None, :] * stride_zn
    tl.store(Zs, tl.load(Xs))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int64])
@pytest.mark.parametrize("shape", [(128, 128), (256, 64)])
def test_transposing_copy_larger_than_threadgroup_memory(dtype, shape):
    x = (np.random.default_rng(1).standard_normal(shape) * 100).astype(dtype)
    z = np.empty(shape[::-1], dtype)
    k = strided_copy[(1, 1)](x, x.shape[1], 1, z, 1, z.shape[1], BLOCK_M=shape[0], BLOCK_N=shape[1])
    np.testing.assert_array_equal(z, x.T)
    assert x.nbytes >= LIMIT >= k.threadgroup_memory_bytes
    # the other way round too
    z2 = np.empty(shape[::-1], dtype)
    strided_copy[(1, 1)](x, 1, x.shape[1], z2, z2.shape[1], 1, BLOCK_M=shape[1], BLOCK_N=shape[0])
    np.testing.assert_array_equal(z2, x.T)


@pytest.mark.parametrize("shape", [(2, 16384), (4, 8192)])
def test_transposing_copy_of_rows_larger_than_threadgroup_memory(shape):
    # one row is 64 KiB (moved in pieces of the row), or 32 KiB only unpadded
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    z = np.empty(shape[::-1], np.float32)
    k = strided_copy[(1, 1)](x, x.shape[1], 1, z, 1, z.shape[1], BLOCK_M=shape[0], BLOCK_N=shape[1])
    np.testing.assert_array_equal(z, x.T)
    assert "tm_smem" in k.asm["msl"] and k.threadgroup_memory_bytes <= LIMIT


@triton.jit
def chained_reductions(In, Out, dim_0: tl.constexpr, dim_1: tl.constexpr, dim_2: tl.constexpr, dim_3: tl.constexpr,
                       dim_4: tl.constexpr, perm_0: tl.constexpr, perm_1: tl.constexpr, perm_2: tl.constexpr,
                       perm_3: tl.constexpr, perm_4: tl.constexpr, red_dim_0: tl.constexpr, red_dim_1: tl.constexpr,
                       red_dim_2: tl.constexpr):
    # upstream test_chained_reductions: a 128 KiB block permuted, then reduced three times
    idx = tl.arange(0, dim_0 * dim_1 * dim_2 * dim_3 * dim_4)
    idx = idx.reshape(dim_0, dim_1, dim_2, dim_3, dim_4)
    vals = tl.load(In + idx)
    vals = tl.permute(vals, [perm_0, perm_1, perm_2, perm_3, perm_4])
    r = tl.sum(tl.sum(tl.sum(vals, red_dim_0), red_dim_1), red_dim_2)
    st_idx = tl.arange(0, r.shape[0] * r.shape[1]).reshape(r.shape)
    tl.store(Out + st_idx, r)


@pytest.mark.parametrize("in_shape, perm, red_dims", [
    ((4, 32, 32, 4, 2), [2, 1, 0, 3, 4], [3, 1, 0]),
    ((8, 2, 32, 4, 16), [4, 0, 1, 3, 2], [0, 2, 0]),
])
def test_permute_of_a_block_larger_than_threadgroup_memory(in_shape, perm, red_dims):
    x = np.random.default_rng(2).integers(0, 1000, in_shape).astype(np.int32)
    t = np.transpose(x, perm)
    ref = t.sum(axis=red_dims[0]).sum(axis=red_dims[1]).sum(axis=red_dims[2]).astype(np.int32)
    out = np.empty_like(ref)
    k = chained_reductions[(1,)](x, out, *in_shape, *perm, *red_dims)
    np.testing.assert_array_equal(out, ref)
    assert k.threadgroup_memory_bytes <= LIMIT


@triton.jit
def join_trans(X, Y, Z, N: tl.constexpr):
    o = tl.arange(0, N)
    pair = tl.join(tl.load(X + o), tl.load(Y + o))  # [N, 2]
    tl.store(Z + o[None, :] * 0 + tl.arange(0, 2)[:, None] * N + o[None, :], tl.trans(pair))


def test_join_and_trans_larger_than_threadgroup_memory():
    n = 8192
    x, y = (np.random.default_rng(s).standard_normal(n).astype(np.float32) for s in (3, 4))
    z = np.empty((2, n), np.float32)
    k = join_trans[(1,)](x, y, z, N=n)
    np.testing.assert_array_equal(z, np.stack([x, y]))
    assert k.threadgroup_memory_bytes <= LIMIT


@triton.jit
def gather_rows(src_ptr, idx_ptr, out_ptr, SM: tl.constexpr, SN: tl.constexpr, IM: tl.constexpr):
    # upstream test_gather's [128, 64] / [256, 64] along axis 0
    src = tl.load(src_ptr + tl.arange(0, SM)[:, None] * SN + tl.arange(0, SN)[None, :])
    idx = tl.load(idx_ptr + tl.arange(0, IM)[:, None] * SN + tl.arange(0, SN)[None, :])
    out = tl.gather(src, idx, 0)
    tl.store(out_ptr + tl.arange(0, IM)[:, None] * SN + tl.arange(0, SN)[None, :], out)


def test_gather_of_upstreams_largest_case():
    rng = np.random.default_rng(6)
    src = rng.standard_normal((128, 64)).astype(np.float32)
    idx = rng.integers(0, 128, (256, 64)).astype(np.int32)
    out = np.empty((256, 64), np.float32)
    k = gather_rows[(1,)](src, idx, out, SM=128, SN=64, IM=256)
    np.testing.assert_array_equal(out, np.take_along_axis(src, idx, axis=0))
    assert k.threadgroup_memory_bytes <= LIMIT


@triton.jit
def sum_middle(X, Z, A: tl.constexpr, B: tl.constexpr, C: tl.constexpr):
    offs = tl.arange(0, A)[:, None, None] * (B * C) + tl.arange(0, B)[None, :, None] * C + tl.arange(0, C)[None, None, :]
    r = tl.sum(tl.load(X + offs), 1)
    tl.store(Z + tl.arange(0, A)[:, None] * C + tl.arange(0, C)[None, :], r)


def test_reduction_whose_partial_results_exceed_threadgroup_memory():
    # 8,192 outputs, each with a partial result from 4 simdgroups along the reduced axis:
    # 128 KiB, exchanged in pieces of the output
    x = np.random.default_rng(6).integers(-9, 9, (64, 8, 128)).astype(np.float32)
    z = np.zeros((64, 128), np.float32)
    k = sum_middle[(1,)](x, z, A=64, B=8, C=128, num_warps=4)
    np.testing.assert_array_equal(z, x.sum(1))
    assert k.threadgroup_memory_bytes <= LIMIT and "const uint lo" in k.asm["msl"]
