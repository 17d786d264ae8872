"""Philox random numbers: bit-exact against an independent numpy Philox 4x32-10
with Triton's constants, counter layout and conversions; tutorial 04's dropout."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

M32 = np.uint64(0xFFFFFFFF)


def philox_ref(seed, offsets, rounds=10):
    """Philox 4x32 as Triton runs it: counters (offset, 0, 0, 0), key (seed lo, seed hi)."""
    seed = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    c = [offsets.astype(np.uint32).astype(np.uint64)] + [np.zeros(offsets.shape, np.uint64)] * 3
    k0, k1 = seed & M32, seed >> np.uint64(32)
    A, B = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    for _ in range(rounds):
        p0, p2 = c[0] * A, c[2] * B
        c = [((p2 >> np.uint64(32)) ^ c[1] ^ k0) & M32, p2 & M32, ((p0 >> np.uint64(32)) ^ c[3] ^ k1) & M32, p0 & M32]
        k0 = (k0 + np.uint64(0x9E3779B9)) & M32
        k1 = (k1 + np.uint64(0xBB67AE85)) & M32
    return [x.astype(np.uint32) for x in c]


def uniform_ref(u):
    i = u.view(np.int32).astype(np.int64)
    i = np.where(i < 0, -i - 1, i).astype(np.int32)
    return i.astype(np.float32) * np.float32(4.6566127342e-10)


@triton.jit
def random_kernel(out_i, out_f, out_n, seed, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    a, b, c, d = tl.randint4x(seed, offs)
    tl.store(out_i + offs * 4, a, mask=m)
    tl.store(out_i + offs * 4 + 1, b, mask=m)
    tl.store(out_i + offs * 4 + 2, c, mask=m)
    tl.store(out_i + offs * 4 + 3, d, mask=m)
    tl.store(out_f + offs, tl.rand(seed, offs), mask=m)
    tl.store(out_n + offs, tl.randn(seed, offs), mask=m)


@pytest.mark.parametrize("seed", [0, 123, 2**40 + 7])
def test_philox_streams_match_reference(seed):
    n = 1000
    out_i = np.zeros(4 * n, np.uint32)
    out_f = np.zeros(n, np.float32)
    out_n = np.zeros(n, np.float32)
    random_kernel[(triton.cdiv(n, 256),)](out_i, out_f, out_n, seed, n, BLOCK=256)
    ref = philox_ref(seed, np.arange(n, dtype=np.int32))
    np.testing.assert_array_equal(out_i.reshape(n, 4), np.stack(ref, axis=1))
    u1, u2 = uniform_ref(ref[0]), uniform_ref(ref[1])
    np.testing.assert_array_equal(out_f, u1)
    assert 0.0 <= out_f.min() and out_f.max() < 1.0
    u1 = np.maximum(np.float32(1e-7), u1)
    normal = np.sqrt(-2.0 * np.log(u1.astype(np.float64))) * np.cos(2 * np.pi * u2.astype(np.float64))
    np.testing.assert_allclose(out_n, normal, rtol=1e-4, atol=1e-4)


@triton.jit
def _seeded_dropout(x_ptr, output_ptr, n_elements, p, seed, BLOCK_SIZE: tl.constexpr):
    pid = tl.program_id(axis=0)
    block_start = pid * BLOCK_SIZE
    offsets = block_start + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    random = tl.rand(seed, offsets)
    x_keep = random > p
    output = tl.where(x_keep, x / (1 - p), 0.0)
    tl.store(output_ptr + offsets, output, mask=mask)


def test_tutorial_04_seeded_dropout_is_reproducible():
    n = 5000
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    out1 = np.zeros_like(x)
    out2 = np.zeros_like(x)
    out3 = np.zeros_like(x)
    grid = (triton.cdiv(n, 1024),)
    _seeded_dropout[grid](x, out1, n, 0.5, 512, BLOCK_SIZE=1024)
    _seeded_dropout[grid](x, out2, n, 0.5, 512, BLOCK_SIZE=1024)
    _seeded_dropout[grid](x, out3, n, 0.5, 513, BLOCK_SIZE=1024)
    np.testing.assert_array_equal(out1, out2)
    assert not np.array_equal(out1, out3)
    keep = uniform_ref(philox_ref(512, np.arange(n, dtype=np.int32))[0]) > np.float32(0.5)
    np.testing.assert_allclose(out1, np.where(keep, x / np.float32(0.5), 0.0), rtol=1e-6)
    assert 0.45 < keep.mean() < 0.55
