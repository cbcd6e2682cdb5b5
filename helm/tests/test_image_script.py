"""scripts/image.sh builds the image without Docker; these keep it in step with the
Dockerfile without building anything (image.sh itself compares the image it built)."""

from __future__ import annotations

import re
import sys

import chart_tool

sys.path.insert(0, str(chart_tool.REPO / "scripts"))
import image_check  # noqa: E402

# The base whose content image.sh lays out (image_check.EXPECTED); another base needs
# image.sh changed with it.
BASE = "gcr.io/distroless/static-debian12:nonroot"


def test_the_script_sets_the_labels_user_ports_and_entrypoint_of_the_dockerfiles_runtime_stage():
    want = image_check.dockerfile_runtime()
    have = image_check.image_sh_declaration()
    assert have["labels"] == want["labels"]
    assert have["user"] == want["user"] == "65532:65532"
    assert have["ports"] == sorted(want["ports"])
    assert have["entrypoint"] == want["entrypoint"]


def test_the_dockerfile_runs_on_the_base_whose_content_the_script_reproduces():
    runtime = image_check.dockerfile_runtime()
    assert runtime["base"] == BASE, "image.sh lays out distroless/static's files: change it with the base"
    # Everything the runtime stage copies in is a file the script's image holds.
    for path in runtime["copies"]:
        assert image_check.EXPECTED.get(path.lstrip("/"), ("",))[0] == "file", path
    # The entrypoint is the copied binary.
    assert runtime["entrypoint"] == runtime["copies"]


def test_both_build_with_cargo_tomls_release_profile_and_the_same_overrides():
    dockerfile = image_check.dockerfile_build_env()
    script = image_check.image_sh_declaration()["build_env"]
    assert dockerfile == script
    # Code generation is Cargo.toml's alone: no LTO or codegen-unit override anywhere.
    assert not [k for k in dockerfile if re.match(r"CARGO_PROFILE_RELEASE_(LTO|CODEGEN_UNITS|OPT_LEVEL)", k)]
    cargo_toml = (chart_tool.REPO / "Cargo.toml").read_text()
    release = cargo_toml.split("[profile.release]", 1)[1]
    assert 'lto = "fat"' in release and "codegen-units = 1" in release


def test_a_changed_dockerfile_label_is_noticed(tmp_path):
    changed = tmp_path / "Dockerfile"
    text = (chart_tool.REPO / "Dockerfile").read_text()
    changed.write_text(text.replace('licenses="Apache-2.0"', 'licenses="MIT"'))
    assert image_check.dockerfile_runtime(changed)["labels"] != image_check.image_sh_declaration()["labels"]
