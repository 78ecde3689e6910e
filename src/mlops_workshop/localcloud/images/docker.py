"""`docker` inside a CodeBuild build (`python -m mlops_workshop.localcloud.images.docker ARGS`, first on its PATH).

The real client against the cloud's engine when there is one; ECR logins and pushes are the local cloud's (its ECR
is moto: a push records a manifest, and which context the image was built from, so that SageMaker runs that
context). Without an engine, `docker build` and `tag` record the build context, and other commands fail saying so.
A build that is not privileged has no daemon: every command but `docker --version` fails as the client does then.
Pushes and logins call ECR with the build's own credentials (its service role).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from .engine import host_extra_cas
from .models import ECR_HOST_MARK, ImageRecords, context_digest, parse_image_uri


CLIENT_VERSION = "28.5.2"   # the client of aws/codebuild/standard:7.0 (its Dockerfile's DOCKER_VERSION)
NO_DAEMON = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"


def docker_main(argv: list[str]) -> int:
    records = ImageRecords(Path(os.environ["LOCALCLOUD_IMAGES_FILE"]))
    real = os.environ.get("LOCALCLOUD_REAL_DOCKER")
    command, args = _split_command(argv)
    if os.environ.get("LOCALCLOUD_NO_DAEMON"):
        # A build that is not privileged: the client is there, its daemon is not (CodeBuild's privileged mode).
        if command is None and {"-v", "--version"} & set(argv):
            print(f"Docker version {CLIENT_VERSION}")
            return 0
        print(NO_DAEMON, file=sys.stderr)
        return 1
    if command == "login":
        registry = next((a for a in reversed(args) if not a.startswith("-")), "")
        if ECR_HOST_MARK in registry or not real:
            if "--password-stdin" in args:
                sys.stdin.read()
            print("Login Succeeded")
            return 0
    if command == "build":
        return _docker_build(argv, args, records, real)
    if command == "tag" and len([a for a in args if not a.startswith("-")]) == 2:
        source, target = [a for a in args if not a.startswith("-")]
        known = records.tag_of(source)
        if real:
            code = subprocess.call([real, *argv])
            if code:
                return code
        elif not known:
            print(f"Error response from daemon: No such image: {source}", file=sys.stderr)
            return 1
        if known:
            records.record_tag(target, known["context"], known.get("image_id"))
        return 0
    if command == "push":
        refs = [a for a in args if not a.startswith("-")]
        if refs and parse_image_uri(refs[0]).is_ecr:
            return _docker_push(refs[0], records, real)
    if real:
        return subprocess.call([real, *argv])
    print(f"docker {command or ''}: the local cloud runs builds without a container engine (settings "
          f"images=process), so only `docker build`, `tag`, `login` and `push` to its ECR work here; "
          f"start it with images=engine (or auto) to run other docker commands", file=sys.stderr)
    return 1


def _split_command(argv: list[str]) -> tuple[str | None, list[str]]:
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        index += 2 if argv[index] in ("-H", "--host", "--config", "--context", "-c", "-l", "--log-level") else 1
    if index >= len(argv):
        return None, []
    return argv[index], argv[index + 1:]


def _docker_build(argv: list[str], args: list[str], records: ImageRecords, real: str | None) -> int:
    tags: list[str] = []
    dockerfile = None
    positional: list[str] = []
    takes_value = {"-t", "--tag", "-f", "--file", "--build-arg", "--iidfile", "--label", "--target",
                   "--network", "--platform", "--cache-from", "-m", "--memory", "--shm-size", "--progress",
                   "--secret", "--ssh", "--add-host", "--ulimit", "--cpuset-cpus", "--output", "-o"}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in takes_value:
            value = args[index + 1] if index + 1 < len(args) else ""
            if arg in ("-t", "--tag"):
                tags.append(value)
            elif arg in ("-f", "--file"):
                dockerfile = value
            index += 2
            continue
        if arg.startswith("--tag="):
            tags.append(arg.split("=", 1)[1])
        elif arg.startswith("--file="):
            dockerfile = arg.split("=", 1)[1]
        elif not arg.startswith("-"):
            positional.append(arg)
        index += 1
    if not positional:
        print('"docker build" requires exactly 1 argument (the build context)', file=sys.stderr)
        return 1
    context = Path(positional[-1]).resolve()
    dockerfile_path = Path(dockerfile) if dockerfile else context / "Dockerfile"
    if not dockerfile_path.is_file():
        print(f"unable to prepare context: no Dockerfile at {dockerfile_path}", file=sys.stderr)
        return 1
    image_id = None
    if real:
        code = _real_build(real, argv, args, positional[-1], context, dockerfile_path)
        if code:
            return code
        if tags:
            image_id = subprocess.run([real, "image", "inspect", "--format", "{{.Id}}", tags[0]],
                                      capture_output=True, text=True).stdout.strip() or None
    else:
        image_id = "sha256:" + context_digest(context)
        print(f"(local cloud, no container engine) recorded build context {context}; SageMaker runs its "
              f"train and serve as local processes")
        print(f"Successfully built {image_id[7:19]}")
    for tag in tags:
        records.record_tag(tag, str(context), image_id)
        if not real:
            print(f"Successfully tagged {tag}")
    return 0


def _real_build(real: str, argv: list[str], args: list[str], context_arg: str, context: Path,
                dockerfile: Path) -> int:
    """`docker build` on the engine, as the engine's own builds run here: with the host's extra CA
    certificates in the context's build-ca/ (a copy; a TLS-intercepting proxy) and, where the Dockerfile takes
    a BASE_IMAGE the call does not set, the engine's local base image (no registry needed)."""
    extra: list[str] = []
    base = os.environ.get("LOCALCLOUD_BASE_IMAGE")
    if base and "ARG BASE_IMAGE" in dockerfile.read_text(errors="replace") and not any(
            a.startswith("BASE_IMAGE=") for a in args):
        extra = ["--build-arg", f"BASE_IMAGE={base}"]
    at = argv.index("build") + 1
    rebuilt = argv[:at] + extra + argv[at:]
    cas = host_extra_cas()
    if not (context / "build-ca").is_dir() or not cas:
        return subprocess.call([real, *rebuilt])
    with tempfile.TemporaryDirectory(prefix="localcloud-build-") as tmp:
        copy = Path(tmp) / "context"
        shutil.copytree(context, copy, symlinks=True)
        for index, ca in enumerate(cas):
            shutil.copyfile(ca, copy / "build-ca" / f"{index:02d}-{ca.stem}.crt")
        last = len(rebuilt) - 1 - rebuilt[::-1].index(context_arg)
        rebuilt[last] = str(copy)
        return subprocess.call([real, *rebuilt])


def _docker_push(ref_text: str, records: ImageRecords, real: str | None) -> int:
    ref = parse_image_uri(ref_text)
    known = records.tag_of(ref_text)
    if not known:
        print(f"An image does not exist locally with the tag: {ref_text}", file=sys.stderr)
        return 1
    config_digest = known.get("image_id") or "sha256:" + hashlib.sha256(known["context"].encode()).hexdigest()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 0,
                   "digest": config_digest},
        "layers": [],
    }, separators=(",", ":"))
    region = ref.registry.split(ECR_HOST_MARK, 1)[1].split(".", 1)[0] if ref.registry else None
    ecr = boto3.client("ecr", region_name=region or os.environ.get("AWS_DEFAULT_REGION"))
    try:
        image = ecr.put_image(repositoryName=ref.repository, imageManifest=manifest,
                              imageTag=ref.tag or "latest")["image"]
        digest = image["imageId"]["imageDigest"]
    except ecr.exceptions.ImageAlreadyExistsException:
        found = ecr.describe_images(repositoryName=ref.repository, imageIds=[{"imageTag": ref.tag or "latest"}])
        digest = found["imageDetails"][0]["imageDigest"]
    except ecr.exceptions.RepositoryNotFoundException:
        print(f"name unknown: The repository with name '{ref.repository}' does not exist in the registry "
              f"{ref.registry}", file=sys.stderr)
        return 1
    records.record_push({"repository": ref.repository, "tag": ref.tag, "digest": digest,
                         "context": known["context"], "image_id": known.get("image_id"),
                         "registry": ref.registry, "build_id": os.environ.get("LOCALCLOUD_BUILD_ID"),
                         "time": time.time()})
    print(f"The push refers to repository [{ref.registry}/{ref.repository}]")
    print(f"{ref.tag or 'latest'}: digest: {digest} size: {len(manifest)}")
    return 0


if __name__ == "__main__":
    sys.exit(docker_main(sys.argv[1:]))
