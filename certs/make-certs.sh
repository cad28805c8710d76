#!/usr/bin/env bash
# Makes a development PKI for fogbridge: a CA, certificates for the two brokers, the gateway, an
# observer and each device, and a set of deliberately bad certificates for negative tests.
# For development and tests only: the keys are unencrypted (gateway.enc.key excepted, on request).
set -euo pipefail

prog=make-certs
usage() {
    cat <<'USAGE'
usage: certs/make-certs.sh --out DIR [--devices "sensor-01 sensor-02 sensor-03"] [--gateway gw-01]
                           [--days N] [--encrypt-gateway-key FILE] [--force | --if-missing]

Writes into DIR (mode 0700; private keys 0600):
  ca.crt ca.key                      the development CA
  local-broker.crt/.key              server certs: SAN DNS:<name>, DNS:localhost,
  cloud-broker.crt/.key                IP:127.0.0.1, IP:::1
  gateway.crt/.key                   client cert, CN = gateway id
  gateway.enc.key                    gateway.key encrypted with a passphrase (--encrypt-gateway-key)
  observer.crt/.key                  client cert, CN = observer (read-only monitoring identity)
  devices/<id>.crt/.key              client cert per device, CN = device id
  bad/expired-client.crt/.key        client cert (CN = gateway id), validity wholly in the past
  bad/not-yet-valid-client.crt/.key  client cert (CN = gateway id), validity in the future
  bad/other-ca.crt/.key              a second, unrelated CA
  bad/other-ca-client.crt/.key       client cert (CN = gateway id) signed by the other CA
  bad/wrong-host-server.crt/.key     server cert for wrong.example only, signed by the real CA
  bad/expired-server.crt/.key        server cert (right names), validity wholly in the past
  bad/mismatched.crt/.key            the gateway's cert with a key that does not belong to it

Options:
  --out DIR        output directory (created if missing)
  --devices LIST   space-separated device ids (default: "sensor-01 sensor-02 sensor-03")
  --gateway ID     gateway id (default: gw-01)
  --days N         validity of the good certificates in days (default: 365)
  --encrypt-gateway-key FILE
                   also write gateway.enc.key: the gateway's key encrypted (AES-256, PKCS#8)
                   with the passphrase on the first line of FILE, which is read by openssl
                   itself, so the passphrase never appears on a command line
  --force          replace existing files
  --if-missing     do nothing (exit 0) when DIR/ca.crt already exists
Ids must match ^[A-Za-z0-9_.:-]{1,64}$. Exit status: 0 done, 2 usage error or refusal to
overwrite, 1 an openssl failure.
USAGE
}

usage_error() {
    echo "$prog: $*" >&2
    exit 2
}
fail() {
    echo "$prog: $*" >&2
    exit 1
}

out=""
devices="sensor-01 sensor-02 sensor-03"
gateway="gw-01"
days=365
pass_file=""
force=0
if_missing=0
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || usage_error "--out needs a directory"; out="$2"; shift 2 ;;
        --devices) [ $# -ge 2 ] || usage_error "--devices needs a list"; devices="$2"; shift 2 ;;
        --gateway) [ $# -ge 2 ] || usage_error "--gateway needs an id"; gateway="$2"; shift 2 ;;
        --days) [ $# -ge 2 ] || usage_error "--days needs a number"; days="$2"; shift 2 ;;
        --encrypt-gateway-key)
            [ $# -ge 2 ] || usage_error "--encrypt-gateway-key needs a passphrase file"
            pass_file="$2"
            shift 2
            ;;
        --force) force=1; shift ;;
        --if-missing) if_missing=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage_error "unknown argument '$1' (see --help)" ;;
    esac
done

[ -n "$out" ] || usage_error "--out DIR is required (see --help)"
[ "$force" -eq 0 ] || [ "$if_missing" -eq 0 ] || usage_error "--force and --if-missing exclude each other"
[[ "$days" =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "--days must be a whole number from 1 to 99999, not '$days'"
command -v openssl >/dev/null || fail "openssl not found"
if [ -n "$pass_file" ]; then
    [ -r "$pass_file" ] || usage_error "cannot read the passphrase file '$pass_file'"
    [ -n "$(head -n 1 "$pass_file")" ] || usage_error "the passphrase file '$pass_file' has an empty first line"
    pass_file="$(cd "$(dirname "$pass_file")" && pwd)/$(basename "$pass_file")"
fi

id_re='^[A-Za-z0-9_.:-]{1,64}$'
read -r -a device_ids <<<"$devices"
[ ${#device_ids[@]} -gt 0 ] || usage_error "--devices is empty"
[[ "$gateway" =~ $id_re ]] || usage_error "bad gateway id '$gateway' (must match $id_re)"
declare -A seen=([observer]=1 ["$gateway"]=1)
for id in "${device_ids[@]}"; do
    [[ "$id" =~ $id_re ]] || usage_error "bad device id '$id' (must match $id_re)"
    [ -z "${seen[$id]:-}" ] || usage_error "device id '$id' is used twice or clashes with the gateway/observer"
    seen[$id]=1
done

if [ "$if_missing" -eq 1 ] && [ -e "$out/ca.crt" ]; then
    echo "$prog: $out/ca.crt exists; left the PKI in $out as it is"
    exit 0
fi

good=(ca local-broker cloud-broker gateway observer)
for id in "${device_ids[@]}"; do good+=("devices/$id"); done
bad=(expired-client not-yet-valid-client other-ca other-ca-client wrong-host-server expired-server mismatched)
targets=()
for name in "${good[@]}"; do targets+=("$name.key" "$name.crt"); done
for name in "${bad[@]}"; do targets+=("bad/$name.key" "bad/$name.crt"); done
[ -z "$pass_file" ] || targets+=("gateway.enc.key")

if [ "$force" -eq 0 ]; then
    for t in "${targets[@]}"; do
        [ ! -e "$out/$t" ] || usage_error "refusing to overwrite $out/$t (use --force to replace the PKI)"
    done
fi

umask 077
mkdir -p "$out"
chmod 700 "$out"
work="$(mktemp -d "$out/.make-certs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out/devices" "$work/out/bad"

# One config for both CAs; the CA directory and the subjectAltName come from the environment,
# which OpenSSL expands when it loads the file, so both variables must always be set.
cat >"$work/openssl.cnf" <<'CNF'
[ ca ]
default_ca = ca_default

[ ca_default ]
dir = $ENV::FB_CA_DIR
database = $dir/index.txt
new_certs_dir = $dir/new
serial = $dir/serial
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
preserve = no

[ policy_any ]
commonName = supplied

[ req ]
distinguished_name = req_dn
[ req_dn ]

[ ext_ca ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $ENV::FB_SAN

[ ext_client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
export OPENSSL_CONF="$work/openssl.cnf"
export FB_SAN="DNS:localhost"
export FB_CA_DIR="$work/ca"

log="$work/openssl.log"
run() {
    "$@" >>"$log" 2>&1 || fail "openssl failed: $* ($(tail -n 1 "$log"))"
}

new_key() {  # path
    run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

stamp() {  # date offset understood by date -d, e.g. "-30 days"
    date -u -d "$1" +%Y%m%d%H%M%SZ
}

# Good certificates start an hour ago, so a peer whose clock is a little behind accepts them.
valid_from="$(stamp '-1 hour')"
valid_to="$(stamp "+$days days")"

new_ca() {  # ca-dir, common name
    mkdir -p "$1/new"
    : >"$1/index.txt"
    new_key "$1/ca.key"
    run openssl req -new -config "$OPENSSL_CONF" -key "$1/ca.key" -subj "/CN=$2" -out "$1/ca.csr"
    FB_CA_DIR="$1" run openssl ca -batch -config "$OPENSSL_CONF" -selfsign -keyfile "$1/ca.key" \
        -rand_serial -notext -extensions ext_ca -startdate "$valid_from" -enddate "$valid_to" \
        -in "$1/ca.csr" -out "$1/ca.crt"
}

# issue ca-dir extensions common-name out-base [startdate enddate]
issue() {
    local ca_dir="$1" ext="$2" cn="$3" base="$4" from="${5:-$valid_from}" to="${6:-$valid_to}"
    new_key "$base.key"
    run openssl req -new -config "$OPENSSL_CONF" -key "$base.key" -subj "/CN=$cn" -out "$base.csr"
    FB_CA_DIR="$ca_dir" run openssl ca -batch -config "$OPENSSL_CONF" -rand_serial -notext \
        -extensions "$ext" -startdate "$from" -enddate "$to" -in "$base.csr" -out "$base.crt"
    rm -f "$base.csr"
}

server_san() {  # name
    echo "DNS:$1, DNS:localhost, IP:127.0.0.1, IP:::1"
}

o="$work/out"
new_ca "$work/ca" "fogbridge development CA"
cp "$work/ca/ca.crt" "$work/ca/ca.key" "$o/"

for name in local-broker cloud-broker; do
    FB_SAN="$(server_san "$name")" issue "$work/ca" ext_server "$name" "$o/$name"
done
issue "$work/ca" ext_client "$gateway" "$o/gateway"
if [ -n "$pass_file" ]; then
    run openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$o/gateway.key" -passout "file:$pass_file" \
        -out "$o/gateway.enc.key"
fi
issue "$work/ca" ext_client observer "$o/observer"
for id in "${device_ids[@]}"; do
    issue "$work/ca" ext_client "$id" "$o/devices/$id"
done

past_start="$(stamp '-30 days')"
past_end="$(stamp '-1 day')"
future_start="$(stamp '+30 days')"
future_end="$(stamp '+395 days')"
issue "$work/ca" ext_client "$gateway" "$o/bad/expired-client" "$past_start" "$past_end"
issue "$work/ca" ext_client "$gateway" "$o/bad/not-yet-valid-client" "$future_start" "$future_end"
FB_SAN="$(server_san local-broker)" issue "$work/ca" ext_server local-broker "$o/bad/expired-server" \
    "$past_start" "$past_end"
FB_SAN="DNS:wrong.example" issue "$work/ca" ext_server wrong.example "$o/bad/wrong-host-server"
new_ca "$work/other-ca" "fogbridge other CA"
cp "$work/other-ca/ca.crt" "$o/bad/other-ca.crt"
cp "$work/other-ca/ca.key" "$o/bad/other-ca.key"
issue "$work/other-ca" ext_client "$gateway" "$o/bad/other-ca-client"
cp "$o/gateway.crt" "$o/bad/mismatched.crt"
new_key "$o/bad/mismatched.key"

# Everything was made; only now replace what was there (stale device files included).
mkdir -p "$out/devices" "$out/bad"
chmod 700 "$out/devices" "$out/bad"
if [ "$force" -eq 1 ]; then
    rm -f "$out"/devices/*.crt "$out"/devices/*.key "$out"/bad/*.crt "$out"/bad/*.key \
        "$out"/gateway.enc.key
fi
chmod 600 "$o"/*.key "$o"/devices/*.key "$o"/bad/*.key
chmod 644 "$o"/*.crt "$o"/devices/*.crt "$o"/bad/*.crt
for t in "${targets[@]}"; do
    mv -f "$o/$t" "$out/$t"
done

echo "$prog: wrote CA, 2 broker, gateway '$gateway', observer, ${#device_ids[@]} device and ${#bad[@]} bad certificates to $out (valid $days days)"
