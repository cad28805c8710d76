#!/usr/bin/env bash
# Makes and keeps a development PKI for fogbridge: a service CA (brokers, gateway, observer) and a
# device CA (boards), each with its openssl-ca database and CRL, so a board can be revoked later;
# and, apart from them, a negative-test CA with deliberately bad certificates.
# For development and tests: the keys are unencrypted (gateway.enc.key excepted, on request).
set -euo pipefail

prog=make-certs
usage() {
    cat <<'USAGE'
usage: certs/make-certs.sh --out DIR [--devices "sensor-01 sensor-02 sensor-03"] [--gateway gw-01]
                           [--days N] [--encrypt-gateway-key FILE] [--force | --if-missing]
       certs/make-certs.sh --out DIR --revoke NAME   (a device id, "observer" or "gateway")
       certs/make-certs.sh --out DIR --gencrl        (re-issue both CRLs, e.g. before they expire)

Writes into DIR (mode 0700; private keys 0600):
  ca.crt ca.key                      the service CA: issues the brokers, the gateway and the observer
  ca.crl                             its CRL (PEM)
  device-ca.crt device-ca.key        the device CA: issues the boards' certificates, nothing else
  device-ca.crl                      its CRL (PEM): the local broker's device listener reads it
  ca-db/service/ ca-db/device/       the two CAs' openssl-ca databases (index.txt, issued certs)
  local-broker.crt/.key              server certs (service CA): SAN DNS:<name>, DNS:localhost,
  cloud-broker.crt/.key                IP:127.0.0.1, IP:::1
  gateway.crt/.key                   client cert (service CA), CN = gateway id
  gateway.enc.key                    gateway.key encrypted with a passphrase (--encrypt-gateway-key)
  observer.crt/.key                  client cert (service CA), CN = observer (read-only monitoring)
  devices/<id>.crt/.key              client cert per device (device CA), CN = device id
 For negative tests only, issued by their own negative-test CA (never by the two above):
  bad/ca.crt bad/ca.key              the negative-test CA
  bad/ca.crl                         its CRL
  bad/trust.pem bad/trust.crl        ca.crt and bad/ca.crt (their CRLs): trust them to see each
                                     bad certificate fail in its stated way (tests only)
  bad/expired-client.crt/.key        client cert (CN = gateway id), validity wholly in the past
  bad/not-yet-valid-client.crt/.key  client cert (CN = gateway id), validity in the future
  bad/wrong-host-server.crt/.key     server cert for wrong.example only
  bad/expired-server.crt/.key        server cert (right names), validity wholly in the past
  bad/other-ca.crt/.key              a second, unrelated CA
  bad/other-ca-client.crt/.key       client cert (CN = gateway id) signed by the other CA
  bad/mismatched.crt/.key            a copy of gateway.crt with a key that does not belong to it

Options:
  --out DIR        output directory (created if missing)
  --devices LIST   space-separated device ids (default: "sensor-01 sensor-02 sensor-03")
  --gateway ID     gateway id (default: gw-01)
  --days N         validity of the good certificates and of the CRLs in days (default: 365)
  --encrypt-gateway-key FILE
                   also write gateway.enc.key: the gateway's key encrypted (AES-256, PKCS#8)
                   with the passphrase on the first line of FILE, which is read by openssl
                   itself, so the passphrase never appears on a command line
  --force          replace existing files
  --if-missing     do nothing (exit 0) when DIR/ca.crt already exists
  --revoke NAME    revoke the certificate of device NAME (or of "observer"/"gateway") in the
                   PKI in DIR and re-issue that CA's CRL; then reload the broker (SIGHUP)
  --gencrl         re-issue both CRLs (valid --days days)
Ids must match ^[A-Za-z0-9_.:-]{1,64}$. A device may not be named like a service: not the
gateway id, fogbridge-<gateway id>, observer, local-broker or cloud-broker. Exit status: 0 done,
2 usage error or refusal, 1 an openssl failure.
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
revoke=""
gencrl=0
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
        --revoke) [ $# -ge 2 ] || usage_error "--revoke needs a name"; revoke="$2"; shift 2 ;;
        --gencrl) gencrl=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage_error "unknown argument '$1' (see --help)" ;;
    esac
done

[ -n "$out" ] || usage_error "--out DIR is required (see --help)"
[ "$force" -eq 0 ] || [ "$if_missing" -eq 0 ] || usage_error "--force and --if-missing exclude each other"
[[ "$days" =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "--days must be a whole number from 1 to 99999, not '$days'"
command -v openssl >/dev/null || fail "openssl not found"

# One config for every CA; the CA directory and the subjectAltName come from the environment,
# which OpenSSL expands when it loads the file, so both variables must always be set.
write_openssl_cnf() {  # path
    cat >"$1" <<'CNF'
[ ca ]
default_ca = ca_default

[ ca_default ]
dir = $ENV::FB_CA_DIR
database = $dir/index.txt
new_certs_dir = $dir/new
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
default_crl_days = 365
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
}

run() {
    "$@" >>"$log" 2>&1 || fail "openssl failed: $* ($(tail -n 1 "$log"))"
}

# gencrl ca-db-dir crl-out: the CA's CRL (PEM). An existing file is rewritten in place, so a
# single-file bind mount of it (deploy/compose) sees the new list too.
gencrl() {
    FB_CA_DIR="$1" run openssl ca -batch -config "$OPENSSL_CONF" -gencrl -crldays "$days" \
        -keyfile "$1/ca.key" -cert "$1/ca.crt" -out "$2.tmp"
    if [ -f "$2" ]; then
        cat "$2.tmp" >"$2"
        rm -f "$2.tmp"
    else
        chmod 644 "$2.tmp"
        mv "$2.tmp" "$2"
    fi
}

if [ -n "$revoke" ] || [ "$gencrl" -eq 1 ]; then
    [ -n "$revoke" ] && [ "$gencrl" -eq 1 ] && usage_error "--revoke and --gencrl exclude each other"
    for db in service device; do
        [ -f "$out/ca-db/$db/index.txt" ] || usage_error "$out has no CA database ca-db/$db (make the PKI with this script first)"
    done
    umask 077
    work="$(mktemp -d "$out/.make-certs.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    log="$work/openssl.log"
    write_openssl_cnf "$work/openssl.cnf"
    export OPENSSL_CONF="$work/openssl.cnf" FB_SAN="DNS:localhost"
    if [ -n "$revoke" ]; then
        case "$revoke" in
            gateway | observer) db=service crt="$out/$revoke.crt" crl="$out/ca.crl" ;;
            *)
                [[ "$revoke" =~ ^[A-Za-z0-9_.:-]{1,64}$ ]] || usage_error "bad device id '$revoke'"
                db=device crt="$out/devices/$revoke.crt" crl="$out/device-ca.crl"
                ;;
        esac
        [ -f "$crt" ] || usage_error "no certificate $crt to revoke"
        serial="$(openssl x509 -in "$crt" -noout -serial | cut -d= -f2)"
        if grep -q "^R.*	$serial	" "$out/ca-db/$db/index.txt"; then
            echo "$prog: $crt (serial $serial) is already revoked"
        else
            FB_CA_DIR="$out/ca-db/$db" run openssl ca -batch -config "$OPENSSL_CONF" \
                -keyfile "$out/ca-db/$db/ca.key" -cert "$out/ca-db/$db/ca.crt" \
                -revoke "$crt" -crl_reason keyCompromise
        fi
        gencrl "$out/ca-db/$db" "$crl"
        echo "$prog: revoked $crt (serial $serial); wrote $crl (valid $days days); reload the broker (SIGHUP)"
    else
        gencrl "$out/ca-db/service" "$out/ca.crl"
        gencrl "$out/ca-db/device" "$out/device-ca.crl"
        echo "$prog: wrote $out/ca.crl and $out/device-ca.crl (valid $days days); reload the broker (SIGHUP)"
    fi
    exit 0
fi

if [ -n "$pass_file" ]; then
    [ -r "$pass_file" ] || usage_error "cannot read the passphrase file '$pass_file'"
    [ -n "$(head -n 1 "$pass_file")" ] || usage_error "the passphrase file '$pass_file' has an empty first line"
    pass_file="$(cd "$(dirname "$pass_file")" && pwd)/$(basename "$pass_file")"
fi

id_re='^[A-Za-z0-9_.:-]{1,64}$'
read -r -a device_ids <<<"$devices"
[ ${#device_ids[@]} -gt 0 ] || usage_error "--devices is empty"
[[ "$gateway" =~ $id_re ]] || usage_error "bad gateway id '$gateway' (must match $id_re)"
# Names a service has (or had) on the brokers: a device must not carry one, so no log line, ACL
# entry or dashboard can mistake a board for a service.
declare -A service_names=([observer]=1 [local-broker]=1 [cloud-broker]=1 ["$gateway"]=1 ["fogbridge-$gateway"]=1)
declare -A seen=()
for id in "${device_ids[@]}"; do
    [[ "$id" =~ $id_re ]] || usage_error "bad device id '$id' (must match $id_re)"
    [ -z "${service_names[$id]:-}" ] || usage_error "refusing to issue a device certificate named like a service: '$id'"
    [ -z "${seen[$id]:-}" ] || usage_error "device id '$id' is used twice"
    seen[$id]=1
done

if [ "$if_missing" -eq 1 ] && [ -e "$out/ca.crt" ]; then
    if [ ! -e "$out/device-ca.crt" ] || [ ! -d "$out/ca-db" ]; then
        usage_error "$out has a PKI without a device CA or CA database (an older layout); remake it with --force"
    fi
    echo "$prog: $out/ca.crt exists; left the PKI in $out as it is"
    exit 0
fi

good=(ca device-ca local-broker cloud-broker gateway observer)
for id in "${device_ids[@]}"; do good+=("devices/$id"); done
bad=(ca expired-client not-yet-valid-client other-ca other-ca-client wrong-host-server expired-server mismatched)
targets=(ca.crl device-ca.crl bad/trust.pem bad/ca.crl bad/trust.crl)
for name in "${good[@]}"; do targets+=("$name.key" "$name.crt"); done
for name in "${bad[@]}"; do targets+=("bad/$name.key" "bad/$name.crt"); done
[ -z "$pass_file" ] || targets+=("gateway.enc.key")

if [ "$force" -eq 0 ]; then
    for t in "${targets[@]}" ca-db; do
        [ ! -e "$out/$t" ] || usage_error "refusing to overwrite $out/$t (use --force to replace the PKI)"
    done
fi

umask 077
mkdir -p "$out"
chmod 700 "$out"
work="$(mktemp -d "$out/.make-certs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out/devices" "$work/out/bad"
write_openssl_cnf "$work/openssl.cnf"
export OPENSSL_CONF="$work/openssl.cnf"
export FB_SAN="DNS:localhost"
export FB_CA_DIR="$work/ca-db/service"
log="$work/openssl.log"

new_key() {  # path
    run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

stamp() {  # date offset understood by date -d, e.g. "-30 days"
    date -u -d "$1" +%Y%m%d%H%M%SZ
}

# Good certificates start an hour ago, so a peer whose clock is a little behind accepts them.
valid_from="$(stamp '-1 hour')"
valid_to="$(stamp "+$days days")"

new_ca() {  # ca-dir, common name: a self-signed CA whose database lives in ca-dir
    mkdir -p "$1/new"
    : >"$1/index.txt"
    echo 1000 >"$1/crlnumber"
    new_key "$1/ca.key"
    run openssl req -new -config "$OPENSSL_CONF" -key "$1/ca.key" -subj "/CN=$2" -out "$1/ca.csr"
    FB_CA_DIR="$1" run openssl ca -batch -config "$OPENSSL_CONF" -selfsign -keyfile "$1/ca.key" \
        -rand_serial -notext -extensions ext_ca -startdate "$valid_from" -enddate "$valid_to" \
        -in "$1/ca.csr" -out "$1/ca.crt"
    rm -f "$1/ca.csr"
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
svc="$work/ca-db/service"
dev="$work/ca-db/device"
tst="$work/test-ca"
new_ca "$svc" "fogbridge service CA"
new_ca "$dev" "fogbridge device CA"
cp "$svc/ca.crt" "$svc/ca.key" "$o/"
cp "$dev/ca.crt" "$o/device-ca.crt"
cp "$dev/ca.key" "$o/device-ca.key"

for name in local-broker cloud-broker; do
    FB_SAN="$(server_san "$name")" issue "$svc" ext_server "$name" "$o/$name"
done
issue "$svc" ext_client "$gateway" "$o/gateway"
if [ -n "$pass_file" ]; then
    run openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$o/gateway.key" -passout "file:$pass_file" \
        -out "$o/gateway.enc.key"
fi
issue "$svc" ext_client observer "$o/observer"
for id in "${device_ids[@]}"; do
    issue "$dev" ext_client "$id" "$o/devices/$id"
done
gencrl "$svc" "$o/ca.crl"
gencrl "$dev" "$o/device-ca.crl"

# The negative-test certificates: a CA of their own, so no certificate that must never be used
# carries the signature of a CA that brokers trust.
past_start="$(stamp '-30 days')"
past_end="$(stamp '-1 day')"
future_start="$(stamp '+30 days')"
future_end="$(stamp '+395 days')"
new_ca "$tst" "fogbridge negative-test CA"
cp "$tst/ca.crt" "$tst/ca.key" "$o/bad/"
cat "$o/ca.crt" "$o/bad/ca.crt" >"$o/bad/trust.pem"
gencrl "$tst" "$o/bad/ca.crl"
cat "$o/ca.crl" "$o/bad/ca.crl" >"$o/bad/trust.crl"
issue "$tst" ext_client "$gateway" "$o/bad/expired-client" "$past_start" "$past_end"
issue "$tst" ext_client "$gateway" "$o/bad/not-yet-valid-client" "$future_start" "$future_end"
FB_SAN="$(server_san local-broker)" issue "$tst" ext_server local-broker "$o/bad/expired-server" \
    "$past_start" "$past_end"
FB_SAN="DNS:wrong.example" issue "$tst" ext_server wrong.example "$o/bad/wrong-host-server"
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
        "$out"/bad/*.crl "$out"/bad/trust.pem "$out"/gateway.enc.key
    rm -rf "$out/ca-db"
fi
chmod 600 "$o"/*.key "$o"/devices/*.key "$o"/bad/*.key "$svc/ca.key" "$dev/ca.key"
chmod 644 "$o"/*.crt "$o"/*.crl "$o"/devices/*.crt "$o"/bad/*.crt "$o"/bad/*.crl "$o"/bad/trust.pem
for t in "${targets[@]}"; do
    mv -f "$o/$t" "$out/$t"
done
mkdir -p "$out/ca-db"
chmod 700 "$out/ca-db"
mv "$svc" "$dev" "$out/ca-db/"

echo "$prog: wrote a service CA, a device CA, 2 broker, gateway '$gateway', observer, ${#device_ids[@]} device and ${#bad[@]} negative-test certificates to $out (valid $days days)"
