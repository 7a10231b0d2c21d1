#!/bin/sh
# Makes the certificates examples/tls.json expects, in /tmp/proxy-tls: a demo CA, site.pem/.key
# for localhost and *.localhost (PEM), and other.pfx for other.localhost (PKCS#12, password
# "demo password"). Then:
#   proxy-service --config examples/tls.json
#   curl --cacert /tmp/proxy-tls/ca.pem https://localhost:8443/
#   curl --cacert /tmp/proxy-tls/ca.pem --resolve other.localhost:8443:127.0.0.1 https://other.localhost:8443/
set -eu
dir=/tmp/proxy-tls
mkdir -p "$dir"
cd "$dir"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj "/CN=proxy demo CA" 2>/dev/null
openssl req -x509 -CA ca.pem -CAkey ca.key $ec -keyout site.key -out site.pem -days 30 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,DNS:*.localhost,IP:127.0.0.1" 2>/dev/null
openssl req -x509 -CA ca.pem -CAkey ca.key $ec -keyout other.key -out other.pem -days 30 \
  -subj /CN=other.localhost -addext "subjectAltName=DNS:other.localhost" 2>/dev/null
openssl pkcs12 -export -in other.pem -inkey other.key -certfile ca.pem -out other.pfx \
  -passout "pass:demo password"
echo "certificates are in $dir (CA: $dir/ca.pem)"
