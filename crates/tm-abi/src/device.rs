//! What a runtime reports about the device it launches on (`triton_metal.runtime.driver`):
//! the same fields for Metal on a Mac and for the CPU executor elsewhere.

/// A description of the device kernels run on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// `"metal"` or `"cpu"`.
    pub backend: &'static str,
    /// `MTLDevice.name` ("Apple M2 Pro"), or a description of the CPU executor.
    pub name: String,
    /// `"M1"` .. `"M5"`, `"newer"` (a later M chip), `"unknown"`; `"cpu"` for the CPU executor.
    pub chip: String,
    /// The highest `MTLGPUFamily` supported (`"Apple7"` ...); `"cpu"` for the CPU executor.
    pub gpu_family: String,
    pub max_threads_per_threadgroup: u32,
    /// Bytes of threadgroup memory a threadgroup may use.
    pub max_threadgroup_memory: u32,
    pub simd_width: u32,
    /// Physical memory, shared by CPU and GPU on Apple Silicon.
    pub unified_memory_bytes: u64,
    /// `MTLDevice.recommendedMaxWorkingSetSize`: how much of it the GPU should use at once.
    pub recommended_working_set_bytes: u64,
    /// The Metal Shading Language version kernels are compiled with, `(major, minor)`.
    pub msl_version: (u32, u32),
    /// `bfloat` is available (MSL 3.1 and later).
    pub supports_bfloat: bool,
}

/// Bytes of device memory triton_metal itself allocated (staging buffers for arrays that could
/// not be used in place); the caller's arrays are not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub current_bytes: u64,
    pub peak_bytes: u64,
}

/// The Apple chip generation in a Metal device name such as `"Apple M3 Max"`.
pub fn chip_generation(device_name: &str) -> &'static str {
    let generation = device_name
        .split_whitespace()
        .find_map(|w| {
            w.strip_prefix('M')
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .and_then(|d| d.parse::<u32>().ok());
    match generation {
        Some(1) => "M1",
        Some(2) => "M2",
        Some(3) => "M3",
        Some(4) => "M4",
        Some(5) => "M5",
        Some(n) if n > 5 => "newer",
        _ => "unknown",
    }
}

/// The MSL version the Metal runtime compiles with on macOS `major`: the newest the OS
/// offers, up to 3.2 (newer versions add nothing the generated code uses). `None` before
/// macOS 11 (no Apple Silicon Mac runs one).
pub fn msl_version_for_macos(major: u32) -> Option<(u32, u32)> {
    Some(match major {
        0..=10 => return None,
        11 => (2, 3),
        12 => (2, 4),
        13 => (3, 0),
        14 => (3, 1),
        _ => (3, 2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chip_generations() {
        assert_eq!(chip_generation("Apple M1"), "M1");
        assert_eq!(chip_generation("Apple M2 Pro"), "M2");
        assert_eq!(chip_generation("Apple M3 Max"), "M3");
        assert_eq!(chip_generation("Apple M4 Ultra"), "M4");
        assert_eq!(chip_generation("Apple M5"), "M5");
        assert_eq!(chip_generation("Apple M6 Max"), "newer");
        assert_eq!(chip_generation("Apple Paravirtual device"), "unknown");
        assert_eq!(chip_generation("AMD Radeon Pro 5500M"), "unknown");
        assert_eq!(chip_generation("Apple A17 Pro"), "unknown");
    }

    #[test]
    fn msl_versions() {
        assert_eq!(msl_version_for_macos(10), None);
        assert_eq!(msl_version_for_macos(11), Some((2, 3)));
        assert_eq!(msl_version_for_macos(13), Some((3, 0)));
        assert_eq!(msl_version_for_macos(14), Some((3, 1)));
        assert_eq!(msl_version_for_macos(15), Some((3, 2)));
        assert_eq!(msl_version_for_macos(26), Some((3, 2)));
    }
}
