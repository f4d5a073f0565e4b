"""Checks deploy/compose.yaml without a container engine: it parses, and it describes the
topology Sunbid promises (two stateless Sunbid processes, PostgreSQL, an S3-compatible
store, a load balancer in front of both processes, migrations first, secrets as files).

    python .ci/compose_check.py deploy/compose.yaml deploy/nginx.conf
"""

import re
import sys

import yaml


def fail(msg):
    print(f"compose check: {msg}", file=sys.stderr)
    sys.exit(1)


def main(compose_path, nginx_path):
    with open(compose_path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    services = doc.get("services") or fail("no services")
    for name in ("postgres", "s3", "migrate", "sunbid1", "sunbid2", "lb"):
        if name not in services:
            fail(f"service {name} missing")

    sunbids = [n for n, s in services.items() if s.get("command") == ["serve"]]
    if sorted(sunbids) != ["sunbid1", "sunbid2"]:
        fail(f"expected two `serve` processes, got {sunbids}")
    for name in sunbids:
        s = services[name]
        env = s.get("environment") or {}
        if not str(env.get("SUNBID_BLOB_URL", "")).startswith("s3://"):
            fail(f"{name}: blobs must live in the S3 store")
        if "postgres" not in " ".join(s.get("entrypoint") or []):
            fail(f"{name}: must use PostgreSQL")
        deps = s.get("depends_on") or {}
        if deps.get("migrate", {}).get("condition") != "service_completed_successfully":
            fail(f"{name}: must start after the migrations")
        if not s.get("read_only"):
            fail(f"{name}: root file system must be read-only")
        for secret in ("platform_key", "session_key", "db_password", "s3_secret"):
            if secret not in (s.get("secrets") or []):
                fail(f"{name}: secret {secret} missing")
        if any(k.endswith(("PASSWORD", "SECRET_ACCESS_KEY")) for k in env):
            fail(f"{name}: a secret in the environment")
    if services["migrate"].get("command") != ["migrate"]:
        fail("migrate must run `sunbid migrate`")
    for name in ("postgres", "s3"):
        if "healthcheck" not in services[name]:
            fail(f"{name}: no healthcheck")
    lb = services["lb"]
    if not any(str(p).endswith(":80") for p in lb.get("ports") or []):
        fail("lb must publish port 80")
    for secret in (doc.get("secrets") or {}).values():
        if "file" not in secret:
            fail("secrets must come from files")

    with open(nginx_path, encoding="utf-8") as f:
        nginx = f.read()
    upstream = re.search(r"upstream\s+sunbid\s*\{([^}]*)\}", nginx)
    if not upstream:
        fail("nginx.conf has no upstream sunbid")
    servers = re.findall(r"server\s+([\w.-]+):8080", upstream.group(1))
    if sorted(servers) != sorted(sunbids):
        fail(f"nginx balances {servers}, compose runs {sunbids}")
    if "ip_hash" in upstream.group(1) or "sticky" in upstream.group(1):
        fail("no sticky sessions: the processes are stateless")
    print(f"compose check: OK ({len(services)} services, balancing {', '.join(servers)})")


if __name__ == "__main__":
    main(*sys.argv[1:3])
