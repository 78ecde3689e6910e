"""Write src/mlops_workshop/localcloud/codebuild/runtimes.json from a checkout of aws/aws-codebuild-docker-images.

    python scripts/codebuild-runtimes.py PATH/TO/aws-codebuild-docker-images

For each curated image the repository's README lists: the runtimes and versions of its runtimes.yml (what
`runtime-versions` accepts), whether it installs other versions itself (a `default` entry), the exact version each
preinstalled one is (the Dockerfile's *_VERSION variables) and the Python it selects when a build names none.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

IMAGES = {
    "aws/codebuild/standard:7.0": "ubuntu/standard/7.0",
    "aws/codebuild/standard:8.0": "ubuntu/standard/8.0",
    "aws/codebuild/amazonlinux-x86_64-standard:5.0": "al/x86_64/standard/5.0",
    "aws/codebuild/amazonlinux-x86_64-standard:6.0": "al/x86_64/standard/6.0",
    "aws/codebuild/amazonlinux-aarch64-standard:3.0": "al/aarch64/standard/3.0",
    "aws/codebuild/amazonlinux-aarch64-standard:4.0": "al/aarch64/standard/4.0",
}
OUT = Path(__file__).resolve().parents[1] / "src/mlops_workshop/localcloud/codebuild/runtimes.json"


def image(root: Path, folder: str) -> dict:
    # BaseLoader keeps "3.10" as written (a YAML 1.1 float would be 3.1).
    spec = yaml.load((root / folder / "runtimes.yml").read_text(), Loader=yaml.BaseLoader)
    dockerfile = (root / folder / "Dockerfile").read_text()
    pins = dict(re.findall(r'(\w+_VERSION)="([^"]+)"', dockerfile))
    runtimes = {}
    for name, runtime in spec["runtimes"].items():
        versions = {}
        for version, steps in runtime["versions"].items():
            if version == "default":
                continue
            text = " ".join(steps.get("commands") or [])
            found = re.search(r"\$(\w+_VERSION)\b", text)
            versions[version] = pins.get(found.group(1), version) if found else version
        runtimes[name] = {"versions": versions, "custom": "default" in runtime["versions"]}
    selected = re.findall(r"^RUN pyenv global \$(\w+)", dockerfile, re.MULTILINE)
    return {"source": folder, "runtimes": runtimes, "python": pins.get(selected[-1]) if selected else None}


def main(root: Path) -> None:
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    data = {"from": f"github.com/aws/aws-codebuild-docker-images@{commit.strip()}",
            "images": {name: image(root, folder) for name, folder in IMAGES.items()}}
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
