//! Embeds the web dashboard's built assets (`dashboard/dist/`) when they exist.
//!
//! `cargo build` never runs npm: when `../dashboard/dist/index.html` is present (after
//! `npm ci --prefix dashboard && npm run --prefix dashboard build`), this sets
//! `cfg(dashboard_assets)` and the node `include_bytes!`s the files; otherwise the node
//! serves a short page saying how to build them.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(dashboard_assets)");
    println!("cargo::rerun-if-changed=build.rs");
    let dashboard = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboard");
    let dist = dashboard.join("dist");
    if dist.join("index.html").is_file() {
        println!("cargo::rustc-cfg=dashboard_assets");
        println!("cargo::rerun-if-changed={}", dist.display());
        for name in ["index.html", "app.js", "app.css"] {
            println!("cargo::rerun-if-changed={}", dist.join(name).display());
        }
    } else if dist.is_dir() {
        // A dist/ without index.html: rerun once the build writes it.
        println!("cargo::rerun-if-changed={}", dist.display());
    } else if dashboard.is_dir() {
        // No dist/ yet: creating it changes the directory (dist/ is not committed).
        println!(
            "cargo::rerun-if-changed={}",
            dashboard.join("package.json").display()
        );
        println!("cargo::rerun-if-changed={}", dashboard.display());
    }
}
