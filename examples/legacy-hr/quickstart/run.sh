#!/usr/bin/env bash
# One command: build, start legacy-hr on 127.0.0.1:8070 and the gateway in
# front of it on 127.0.0.1:8080, print a SCIM token for tenant `hr`.
# Ctrl-C stops both. Data lives in examples/legacy-hr/quickstart/data/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"
cargo build --release -q -p scimgate -p legacy-hr -p scimgate-plugin-artifacts
mkdir -p "$here/data"
key_file="$here/data/api-key"
[ -s "$key_file" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$key_file"
export LEGACY_HR_API_KEY="$(cat "$key_file")"
target/release/legacy-hr --listen 127.0.0.1:8070 --db "$here/data/hr.db" --rate-limit 10 &
hr_pid=$!
trap 'kill "$hr_pid" 2>/dev/null || true' EXIT
token="$(target/release/scimgate token issue --config "$here/scimgate.toml" --tenant hr)"
cat <<MSG
legacy-hr:  http://127.0.0.1:8070  (X-Api-Key: $LEGACY_HR_API_KEY)
SCIM base:  http://127.0.0.1:8080/scim/v2  (Authorization: Bearer $token)
MSG
target/release/scimgate serve --config "$here/scimgate.toml"
