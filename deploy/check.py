#!/usr/bin/python3
"""Checks deploy/ by construction (no Docker or Kubernetes needed).

  /usr/bin/python3 deploy/check.py [build/native/tandem]

1. Every deploy/kserve/*.yaml parses (python3-yaml) and has the fields KServe needs.
2. Every option the manifests and the Dockerfile pass to `tandem serve` appears in
   `tandem serve --help` of the given binary.
3. The binary is started as each InferenceService's pod would start it (the runtime's args
   followed by the predictor's, ENTRYPOINT `tandem serve`, {{.Name}} replaced by the
   InferenceService's name as KServe does), on a copy of the build's demo model laid out as
   KServe's storage initializer lays out /mnt/models (model.onnx + config.json), on a free port
   instead of 8080: the probes' paths answer 200, the model answers under the InferenceService's
   name, API keys are enforced when the manifest passes a key file, and SIGTERM drains and
   exits 0.
Exit status 0 when everything holds; prints what failed otherwise.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)
    return ok


def load_manifests():
    docs = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "deploy/kserve/*.yaml"))):
        with open(path) as f:
            items = [d for d in yaml.safe_load_all(f) if d is not None]
        check(len(items) == 1, f"{os.path.relpath(path, ROOT)} parses (one document)")
        docs[os.path.basename(path)] = items[0]
    return docs


def runtime_container(sr):
    found = [c for c in sr["spec"]["containers"] if c.get("name") == "kserve-container"]
    if not check(len(found) == 1, "servingruntime.yaml: one container named kserve-container"):
        sys.exit(1)
    return found[0]


def check_runtime(sr):
    check(sr.get("apiVersion") == "serving.kserve.io/v1alpha1" and sr.get("kind") == "ServingRuntime",
          "servingruntime.yaml: serving.kserve.io/v1alpha1 ServingRuntime")
    spec = sr["spec"]
    check(sr["metadata"]["name"] == "tandem-runtime", "runtime is named tandem-runtime")
    check({"name": "onnx", "version": "1", "autoSelect": True} in spec["supportedModelFormats"],
          "supports onnx version \"1\" with autoSelect")
    check(spec.get("protocolVersions") == ["v2"], "protocolVersions [v2] (REST only)")
    c = runtime_container(sr)
    args = c["args"]
    check(all(isinstance(a, str) for a in args), "args are strings (quoted numbers)")
    check(args[args.index("--model-dir") + 1] == "/mnt/models", "--model-dir /mnt/models")
    check(args[args.index("--model-name") + 1] == "{{.Name}}", "--model-name {{.Name}} (KServe fills in the name)")
    port = int(args[args.index("--http-port") + 1])
    check(port == 8080 and [p["containerPort"] for p in c["ports"]] == [8080], "--http-port 8080 = containerPort")
    for probe, path in (("readinessProbe", "/v2/health/ready"), ("livenessProbe", "/v2/health/live")):
        get = c[probe]["httpGet"]
        check(get["path"] == path and get["port"] == port, f"{probe}: GET {path} on {port}")
    threads = args[args.index("--threads") + 1]
    check(threads == str(c["resources"]["limits"]["cpu"]), "--threads equals limits.cpu")
    return c


def check_isvc(name, isvc):
    model = isvc["spec"]["predictor"]["model"]
    check(isvc.get("apiVersion") == "serving.kserve.io/v1beta1" and isvc.get("kind") == "InferenceService",
          f"{name}: serving.kserve.io/v1beta1 InferenceService")
    check(model["runtime"] == "tandem-runtime" and model["modelFormat"] == {"name": "onnx", "version": "1"}
          and model.get("protocolVersion") == "v2", f"{name}: onnx/1 on tandem-runtime, protocol v2")
    check("storageUri" in model, f"{name}: has a storageUri")
    mounts = {m["name"]: m for m in model.get("volumeMounts", [])}
    volumes = {v["name"] for v in isvc["spec"]["predictor"].get("volumes", [])}
    check(set(mounts) <= volumes, f"{name}: every volumeMount has a volume")


def dockerfile_args():
    text = open(os.path.join(ROOT, "deploy/container/Dockerfile")).read()
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    check(entry == ["tandem", "serve"], "Dockerfile: ENTRYPOINT [\"tandem\", \"serve\"]")
    check(re.search(r"^EXPOSE 8080$", text, re.M) is not None, "Dockerfile: EXPOSE 8080")
    check("/v2/health/ready" in re.search(r"^HEALTHCHECK .*\n.*$", text, re.M).group(0),
          "Dockerfile: HEALTHCHECK asks /v2/health/ready")
    # Every COPY from the build context exists and is re-included by the allowlist ignore file.
    allowed = {l.strip()[1:].rstrip("/") for l in open(os.path.join(ROOT, "deploy/container/Dockerfile.dockerignore"))
               if l.startswith("!")}
    for line in re.findall(r"^COPY (?!--from)(.*)$", text, re.M):
        for src in line.split()[:-1]:
            src = src.rstrip("/")
            check(os.path.exists(os.path.join(ROOT, src)) and src in allowed,
                  f"Dockerfile: COPY {src} exists and is in Dockerfile.dockerignore's allowlist")
    return cmd


def http(url, key=None):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + key} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def run_pod(tandem, name, container, isvc, work):
    """Starts the binary with the pod's args; /mnt/models and mounted files point into `work`."""
    model = isvc["spec"]["predictor"]["model"]
    args = list(container["args"]) + list(model.get("args", []))
    repo = os.path.join(work, "mnt-models")
    if not os.path.isdir(repo):
        # What the storage initializer leaves for storageUri = a folder with model.onnx and config.json
        demo = os.path.join(os.path.dirname(tandem), "serve-models", "seed_mlp")
        os.makedirs(repo)
        shutil.copy(os.path.join(demo, "1", "model.onnx"), repo)
        if os.path.exists(os.path.join(demo, "config.json")):
            shutil.copy(os.path.join(demo, "config.json"), repo)
    served = isvc["metadata"]["name"]
    key = None
    mounts = {m["mountPath"]: m for m in model.get("volumeMounts", [])}
    for i, a in enumerate(args):
        if a == "{{.Name}}":
            args[i] = served  # KServe's template: the InferenceService's name
        elif a == "/mnt/models":
            args[i] = repo
        elif i > 0 and args[i - 1] == "--http-port":
            args[i] = "0"  # a free port: the check must not depend on 8080 being free here
        elif i > 0 and args[i - 1] == "--api-key-file":
            check(os.path.dirname(a) in mounts, f"{name}: --api-key-file lies in a mounted Secret")
            key = "check-key-" + os.urandom(8).hex()
            args[i] = os.path.join(work, "api-keys")
            with open(args[i], "w") as f:
                f.write("# written by deploy/check.py\n" + key + "\n")
    proc = subprocess.Popen([tandem, "serve", "--no-access-log"] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on http://[^:]+:(\d+)", line)
        if not check(m is not None, f"{name}: tandem serve starts with the pod's args"):
            proc.kill()
            print(proc.stderr.read())
            return
        base = f"http://127.0.0.1:{m.group(1)}"
        for probe in ("readinessProbe", "livenessProbe"):
            path = container[probe]["httpGet"]["path"]
            check(http(base + path) == 200, f"{name}: {probe} {path} -> 200 without a key")
        meta = f"{base}/v2/models/{served}"
        if key:
            check(http(meta) == 401, f"{name}: metadata without the key -> 401")
            check(http(meta, key) == 200, f"{name}: metadata of '{served}' with the key -> 200")
        else:
            check(http(meta) == 200, f"{name}: metadata of '{served}' (the InferenceService's name) -> 200")
        proc.send_signal(signal.SIGTERM)
        check(proc.wait(timeout=30) == 0, f"{name}: SIGTERM drains and exits 0")
    finally:
        if proc.poll() is None:
            proc.kill()


def main():
    tandem = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/native/tandem"))
    docs = load_manifests()
    container = check_runtime(docs["servingruntime.yaml"])
    isvcs = {n: d for n, d in docs.items() if d.get("kind") == "InferenceService"}
    for name, isvc in isvcs.items():
        check_isvc(name, isvc)
    cmd = dockerfile_args()

    helptext = subprocess.run([tandem, "serve", "--help"], capture_output=True, text=True).stderr
    known = set(re.findall(r"--[a-z][a-z0-9-]*", helptext))
    used = [a.split("=")[0] for a in container["args"] + cmd if a.startswith("--")]
    for isvc in isvcs.values():
        used += [a.split("=")[0] for a in isvc["spec"]["predictor"]["model"].get("args", []) if a.startswith("--")]
    for flag in sorted(set(used)):
        check(flag in known, f"{flag} is in `tandem serve --help`")

    with tempfile.TemporaryDirectory() as work:
        for name, isvc in isvcs.items():
            run_pod(tandem, name, container, isvc, work)

    print(f"\n{len(failures)} failure(s)" if failures else "\nall deploy/ checks hold")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
