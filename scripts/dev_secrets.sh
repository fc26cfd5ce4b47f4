#!/usr/bin/env bash
# Makes the secrets of the local stack (docker-compose.yml) in deploy/secrets/ (git-ignored;
# nothing here is ever committed): a CA, the server's certificate and key (names treestore,
# localhost, 127.0.0.1), and an auth file with two principals whose tokens are written next to
# it, once:
#   deploy/secrets/ca.crt, tls.crt, tls.key   TLS (clients trust ca.crt)
#   deploy/secrets/principals.toml            the auth file (token hashes only)
#   deploy/secrets/admin.token                scopes read, write, admin; every namespace
#   deploy/secrets/reader.token               scope read; the namespace "default"
# Existing files are kept (delete the directory to start over). For development: a production
# CA and tokens come from your own PKI and `treestore token`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=deploy/secrets
mkdir -p "$out"
chmod 700 "$out"
umask 077
if [ ! -f "$out/tls.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
    -subj "/CN=treestore dev CA" -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=treestore" -keyout "$out/tls.key" -out "$out/tls.csr" 2>/dev/null
  printf 'subjectAltName=DNS:treestore,DNS:localhost,IP:127.0.0.1\n' > "$out/san.ext"
  openssl x509 -req -in "$out/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -days 365 -extfile "$out/san.ext" -out "$out/tls.crt" 2>/dev/null
  rm -f "$out/tls.csr" "$out/san.ext" "$out/ca.srl"
  echo "made $out/ca.crt, $out/tls.crt, $out/tls.key"
fi
if [ ! -f "$out/principals.toml" ]; then
  entry() {  # entry NAME SCOPES NAMESPACES: a new token in $out/NAME.token, its entry on stdout
    local token="tst_$(openssl rand -hex 32)"
    printf '%s\n' "$token" > "$out/$1.token"
    printf '[[principal]]\nname = "%s"\nscopes = %s\ntoken_sha256 = ["%s"]\nnamespaces = %s\n\n' \
      "$1" "$2" "$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)" "$3"
  }
  { entry admin '["admin"]' '["*"]'; entry reader '["read"]' '["default"]'; } > "$out/principals.toml"
  echo "made $out/principals.toml, $out/admin.token, $out/reader.token"
fi
# The container runs as uid 10001: let it read what it mounts (compose secrets are bind mounts).
chmod 644 "$out/tls.crt" "$out/ca.crt" "$out/tls.key" "$out/principals.toml"
