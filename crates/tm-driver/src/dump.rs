//! `TRITON_METAL_DUMP_DIR`: writes, for every kernel compiled, the IR from the front end, the
//! IR after each pass, the layouts and the MSL into `DIR/<kernel>-<key prefix>/`, one file per
//! stage numbered in pipeline order. Failing to write is a warning, never an error.

use std::path::PathBuf;

/// One kernel's dump directory.
pub struct Dump {
    dir: PathBuf,
    next: u32,
}

impl Dump {
    /// The dump for kernel `name` compiled under `key`, if `TRITON_METAL_DUMP_DIR` is set.
    pub fn from_env(name: &str, key: &crate::cache::Key) -> Option<Dump> {
        let root = std::env::var_os("TRITON_METAL_DUMP_DIR").filter(|v| !v.is_empty())?;
        let dir = PathBuf::from(root).join(format!("{name}-{}", &key.hex()[..16]));
        Some(Dump { dir, next: 0 })
    }

    /// Writes `text` as the next stage's file, `NN-<stage>.<ext>`.
    pub fn write(&mut self, stage: &str, ext: &str, text: &str) {
        let path = self.dir.join(format!("{:02}-{stage}.{ext}", self.next));
        self.next += 1;
        let result = std::fs::create_dir_all(&self.dir)
            .and_then(|()| crate::cache::write_atomic(&path, text.as_bytes()));
        if let Err(e) = result {
            eprintln!(
                "[triton_metal] warning: cannot write {} (TRITON_METAL_DUMP_DIR): {e}",
                path.display()
            );
        }
    }
}
