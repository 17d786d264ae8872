# signature: *fp16:16, *fp32:16, i32:1, i32:1, i32:1, BM=32, BN=64
# num_warps: 4
@triton.jit
def scale_rows(x_ptr, y_ptr, M, N, stride, BM: tl.constexpr, BN: tl.constexpr):
    offs_m = tl.program_id(0) * BM + tl.arange(0, BM)
    offs_n = tl.arange(0, BN)
    mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    x = tl.load(x_ptr + offs_m[:, None] * stride + offs_n[None, :], mask=mask, other=0.0)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for i in range(0, 3):
        acc += tl.exp(x.to(tl.float32)) * i
    if M > 5:
        acc = acc * 2
    tl.store(y_ptr + offs_m[:, None] * stride + offs_n[None, :], acc, mask=mask)
