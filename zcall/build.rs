//! Chooses the backend once: `cfg(zcall_asm)` where syscalls are issued in inline asm.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(zcall_asm)");
    println!("cargo::rustc-check-cfg=cfg(zcall_codegen)");
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let miri = std::env::var_os("CARGO_CFG_MIRI").is_some();
    let asm_arch = matches!(
        arch.as_str(),
        "x86_64" | "aarch64" | "riscv64" | "loongarch64"
    );
    if os == "linux" && asm_arch && !miri {
        println!("cargo::rustc-cfg=zcall_asm");
    }
}
