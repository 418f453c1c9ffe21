//! Staging produces exactly the runnable app layout, in the folder and in the zip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use xtask::stage::{StageOptions, stage};

#[test]
fn stages_the_app_folder_and_zip() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("app");
    let staged = stage(&StageOptions {
        root: root.clone(),
        out: out.clone(),
        target: None,
        release: false,
        local: true,
        zip: true,
    })
    .unwrap();

    let expected = [
        "IngestJob/function.json",
        "ProcessJob/function.json",
        "handler",
        "host.json",
        "job-types/report/v1.schema.json",
        "job-types/report/v2.schema.json",
        "job-types/thumbnail/v1.schema.json",
    ];
    assert_eq!(staged.files, expected);
    for f in expected {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(
        out.join("local.settings.json").is_file(),
        "--local copies local.settings.json"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(out.join("handler"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    let zip_path = staged.zip.unwrap();
    assert_eq!(zip_path, tmp.path().join("app.zip"));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut entries = BTreeMap::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).unwrap();
        entries.insert(
            entry.name().unwrap().to_string(),
            entry.unix_mode().unwrap_or(0) & 0o777,
        );
    }
    assert_eq!(
        entries.keys().map(String::as_str).collect::<Vec<_>>(),
        expected,
        "nothing else in the zip"
    );
    assert_eq!(entries["handler"], 0o755);
    assert_eq!(entries["host.json"], 0o644);
    assert!(
        !entries.contains_key("local.settings.json"),
        "local settings never ship"
    );

    // The staged function.json files are the repository's, byte for byte.
    let repo = std::fs::read(root.join("functions/IngestJob/function.json")).unwrap();
    assert_eq!(
        std::fs::read(out.join("IngestJob/function.json")).unwrap(),
        repo
    );
}
