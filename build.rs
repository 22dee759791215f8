use std::process::Command;

fn main() {
    gst_plugin_version_helper::info();
    link_abseil();
}

/// WebRTC's audio processing is linked statically and needs abseil. The
/// -sys crate asks only for `absl_strings`, which suffices for executables
/// that happen not to pull the rest, but leaves `libgstbargein.so` with
/// undefined abseil symbols. Link everything WebRTC's meson build used, as a
/// group at the end of the link line so the order of static archives does not
/// matter.
fn link_abseil() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let modules = [
        "absl_base",
        "absl_flags",
        "absl_strings",
        "absl_numeric",
        "absl_synchronization",
        "absl_bad_optional_access",
    ];
    let out = Command::new("pkg-config")
        .args(["--static", "--libs"])
        .args(modules)
        .output();
    let libs = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => {
            println!(
                "cargo:warning=pkg-config found no abseil >= 20240722; run scripts/setup.sh \
                 (it builds one) or set PKG_CONFIG_PATH"
            );
            return;
        }
    };
    println!("cargo:rustc-link-arg=-Wl,--start-group");
    for flag in libs.split_whitespace() {
        println!("cargo:rustc-link-arg={flag}");
    }
    println!("cargo:rustc-link-arg=-lstdc++");
    println!("cargo:rustc-link-arg=-Wl,--end-group");
}
