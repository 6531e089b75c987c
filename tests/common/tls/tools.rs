//! External TLS tools (`openssl`, `curl`): whether they are installed,
//! running them with a deadline, and the keys only openssl can make here
//! (RSA, and PKCS#1/SEC1 encodings).

use std::path::PathBuf;
use std::time::Duration;

use rcgen::KeyPair;

use super::TempDir;

/// Whether `tool` runs (`tool version`/`--version`); prints why a test part
/// is skipped when it does not.
pub fn have_tool(tool: &str, why: &str) -> bool {
    let arg = if tool == "openssl" {
        "version"
    } else {
        "--version"
    };
    let ok = std::process::Command::new(tool)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED ({why}): `{tool}` is not installed or does not run");
    }
    ok
}

/// Runs `program args...` with stdin closed, killed after 30 s; returns
/// (exit success, stdout, stderr).
pub async fn run_tool(program: &str, args: &[&str]) -> (bool, String, String) {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts: {e}"));
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} did not finish in 30 s"))
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A 2048-bit RSA key made by `openssl genpkey` (rcgen with ring cannot
/// generate RSA keys), loaded for signing with RSA PKCS#1 SHA-256.
pub async fn openssl_rsa_key() -> Result<KeyPair, String> {
    let (ok, pem, err) = run_tool(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
    )
    .await;
    if !ok {
        return Err(format!("openssl genpkey failed: {err}"));
    }
    KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).map_err(|e| e.to_string())
}

/// `openssl pkey -traditional`: a PKCS#8 key rewritten as PKCS#1 (`RSA
/// PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
pub async fn openssl_traditional(dir: &TempDir, pkcs8_pem: &str, name: &str) -> PathBuf {
    let input = dir.write(&format!("{name}.pkcs8"), pkcs8_pem);
    let out = dir.file(name);
    let (ok, _, err) = run_tool(
        "openssl",
        &[
            "pkey",
            "-in",
            input.to_str().unwrap(),
            "-traditional",
            "-out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "openssl pkey -traditional: {err}");
    out
}
