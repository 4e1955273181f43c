//! Reads the top-level `tauri.conf.json` (the repository root keeps it, so
//! bundling tools and people find it where the design says).

fn main() {
    let attributes = tauri_build::Attributes::new().config_path("../tauri.conf.json");
    if let Err(err) = tauri_build::try_build(attributes) {
        println!("cargo::error=tauri build step failed: {err:#}");
    }
}
