#!/bin/bash
# testssl.sh (the Debian package "testssl.sh", command "testssl") against a TLS listener of the
# real service with the default protocol and cipher settings: protocols (-p) and cipher
# categories (-s). Fails if SSL 2/3, TLS 1.0/1.1, or NULL, anonymous, export, LOW, 3DES/IDEA or
# obsolete CBC ciphers are offered, or TLS 1.2/1.3 are not. The summary is in docs/security.md.
# Usage: testssl_check.sh PROXY_SERVICE_EXE
set -euo pipefail
service="$1"
command -v testssl > /dev/null || { echo "testssl is not installed (scripts/deps.sh test)"; exit 1; }
dir=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null; rm -rf "$dir"; }
trap cleanup EXIT

cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ec.key \
  -out ec.pem -days 2 -subj /CN=testssl.test -addext subjectAltName=DNS:testssl.test 2> /dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem -days 2 \
  -subj /CN=rsa.testssl.test -addext subjectAltName=DNS:rsa.testssl.test 2> /dev/null
port=""
for _ in $(seq 1 50); do
  candidate=$(( 20000 + RANDOM % 40000 ))
  if ! (exec 3<> "/dev/tcp/127.0.0.1/$candidate") 2> /dev/null; then port=$candidate; break; fi
done
[ -n "$port" ] || { echo "no free port"; exit 1; }
cat > config.json << JSON
{
  "control": { "endpoint": "$dir/control.sock" },
  "logging": { "database": "$dir/logs.db", "level": "warn" },
  "listeners": [ { "name": "secure", "address": "127.0.0.1:$port",
                   "tls": { "certificates": [ { "cert": "$dir/ec.pem", "key": "$dir/ec.key" },
                                              { "cert": "$dir/rsa.pem", "key": "$dir/rsa.key" } ] } } ],
  "upstreams": [ { "name": "none", "servers": [ { "address": "127.0.0.1:9" } ] } ],
  "routes": [ { "name": "all", "upstream": "none" } ]
}
JSON
"$service" --config config.json > service.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null && break
  sleep 0.1
done

testssl --quiet --color 0 --warnings off -p -s --jsonfile "$dir/result.json" "127.0.0.1:$port" |
  sed -n '/Testing protocols/,$p'

# The flat JSON file lists one finding per object: "id", then "finding" a few lines below.
finding() {
  awk -v id="$1" '
    $0 ~ "\"id\" *: *\"" id "\"" { want = 1; next }
    want && /"finding"/ { sub(/.*"finding" *: *"/, ""); sub(/".*/, ""); print; exit }
  ' "$dir/result.json"
}
status=0
for id in SSLv2 SSLv3 TLS1 TLS1_1 cipherlist_NULL cipherlist_aNULL cipherlist_EXPORT \
          cipherlist_LOW cipherlist_3DES_IDEA cipherlist_AVERAGE; do
  got=$(finding "$id")
  if [ "$got" != "not offered" ]; then echo "FAIL: $id: '$got' (expected 'not offered')"; status=1; fi
done
for id in TLS1_2 TLS1_3 cipherlist_STRONG; do
  got=$(finding "$id")
  case "$got" in offered*) ;; *) echo "FAIL: $id: '$got' (expected 'offered')"; status=1 ;; esac
done
[ "$status" = 0 ] && echo "testssl: no weak protocol and no weak cipher offered"
exit "$status"
