use tm_abi::{BufferParam, KernelAbi};
use tm_ir::DType;
fn main() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void bench(device float* p0 [[buffer(0)]], device float* p1 [[buffer(1)]], threadgroup uchar* tm_smem [[threadgroup(0)]],
    uint3 tm_pid [[threadgroup_position_in_grid]], uint3 tm_nprog [[threadgroups_per_grid]], uint tm_tid [[thread_index_in_threadgroup]],
    uint tm_lane [[thread_index_in_simdgroup]], uint tm_sg [[simdgroup_index_in_threadgroup]]) {
  threadgroup float* s = (threadgroup float*)tm_smem;
  float v = p0[tm_pid.x * 256 + tm_tid];
  for (ushort o = 16; o > 0; o /= 2) v += simd_shuffle_xor(v, o);
  if (tm_lane == 0) s[tm_sg] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (tm_tid == 0) { float t = 0; for (int i = 0; i < 8; ++i) t += s[i]; p1[tm_pid.x] = t; }
  threadgroup_barrier(mem_flags::mem_threadgroup);
}
"#;
    let abi = KernelAbi::new("bench".into(), vec![BufferParam{name:"a".into(), dtype: DType::F32}, BufferParam{name:"b".into(), dtype: DType::F32}], vec![], vec![], 256, 64, true).unwrap();
    let t = std::time::Instant::now();
    let k = tm_cpu::compile(src, &abi).unwrap();
    println!("compile {:?} {:?}", t.elapsed(), k.origin());
    let groups = 4096usize;
    let mut x = vec![1.0f32; groups * 256];
    let mut y = vec![0f32; groups];
    for _ in 0..3 {
        let t = std::time::Instant::now();
        k.launch([groups as u32, 1, 1], &[x.as_mut_ptr().cast(), y.as_mut_ptr().cast()], &[]).unwrap();
        println!("launch {:?} ({} collectives+barriers per thread)", t.elapsed(), 7);
    }
    assert!(y.iter().all(|v| *v == 256.0));
    let t = std::time::Instant::now();
    for _ in 0..1000 { k.launch([1, 1, 1], &[x.as_mut_ptr().cast(), y.as_mut_ptr().cast()], &[]).unwrap(); }
    println!("1000 single-group launches {:?}", t.elapsed());
    let t = std::time::Instant::now();
    for _ in 0..100 { k.launch([16, 1, 1], &[x.as_mut_ptr().cast(), y.as_mut_ptr().cast()], &[]).unwrap(); }
    println!("100 16-group launches {:?}", t.elapsed());
}
