"""The committed stubs in service/_gen must be exactly what scripts/gen-protos makes from protos/."""

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_stubs_match_the_protos(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    (copy / "service").mkdir(parents=True)
    shutil.copytree(ROOT / "protos", copy / "protos")
    shutil.copytree(ROOT / "scripts", copy / "scripts")
    shutil.copytree(ROOT / "service" / "_gen", copy / "service" / "_gen")
    subprocess.run(
        [str(copy / "scripts" / "gen-protos")], check=True, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}
    )
    generated = _stub_files(copy / "service" / "_gen")
    committed = _stub_files(ROOT / "service" / "_gen")
    assert generated == committed
    stale = [
        str(rel)
        for rel in generated
        if not filecmp.cmp(copy / "service" / "_gen" / rel, ROOT / "service" / "_gen" / rel, shallow=False)
    ]
    assert stale == [], f"stale stubs, run scripts/gen-protos: {stale}"


def _stub_files(directory: Path) -> list[Path]:
    return sorted(p.relative_to(directory) for p in directory.rglob("*") if p.suffix in {".py", ".pyi"})
