#!/usr/bin/env bash
# Creates the gateway's private key inside a PKCS#11 token or a TPM 2.0 and issues its client
# certificate from a CSR signed by the project's CA, so the private key never exists on disk.
# See docs/hardware-keys.md.
set -euo pipefail

prog=hw-key
usage() {
    cat <<'USAGE'
usage: certs/hw-key.sh pkcs11 --module SO --token LABEL --object LABEL --pin-file FILE
                              --cn ID --out CRT [--ca-dir DIR | --ca CRT --ca-key KEY | --csr-only]
                              [--reuse-key] [--days N]
       certs/hw-key.sh tpm (--handle 0x81xxxxxx | --key-file TSS2PEM) [--pin-file FILE]
                              --cn ID --out CRT [--ca-dir DIR | --ca CRT --ca-key KEY | --csr-only]
                              [--reuse-key] [--days N]

pkcs11  makes an EC P-256 key pair in the token (the token must be initialised; its user PIN
        is the first line of --pin-file and is passed through the environment, never argv).
        The gateway's key_file is then  pkcs11:token=LABEL;object=LABEL
tpm     makes an EC P-256 key under the owner hierarchy's ECC primary and either makes it
        persistent at --handle (key_file = handle:0x81...) or writes its TPM-wrapped blob to
        --key-file (key_file = that path; the blob is useless without this TPM). With
        --pin-file (with --handle) the key gets that authorization value (the gateway's
        key_pin_file).
        The TPM is reached through TPM2TOOLS_TCTI and TPM2OPENSSL_TCTI (default /dev/tpmrm0).

Then a CSR is made with the key (the signature comes from the token or TPM) and, unless
--csr-only, signed with the CA (default --ca-dir certs/ output: ca.crt and ca.key) as a client
certificate (clientAuth, CN = ID) written to --out. --csr-only writes the CSR to --out instead,
for a CA kept elsewhere. --reuse-key skips the key generation: a new certificate for the key
already in the token or TPM (rotation). Exit status: 0 done, 2 usage error, 1 a tool failed.
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

[ $# -ge 1 ] || usage_error "which store: pkcs11 or tpm (see --help)"
case "$1" in
    pkcs11 | tpm) kind="$1"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown store '$1' (pkcs11 or tpm)" ;;
esac

module="" token="" object="" pin_file="" handle="" key_file="" cn="" out="" ca_dir=""
ca="" ca_key="" csr_only=0 reuse=0 days=365
while [ $# -gt 0 ]; do
    [ "$1" != "--csr-only" ] && [ "$1" != "--reuse-key" ] && [ $# -lt 2 ] && usage_error "$1 needs a value"
    case "$1" in
        --module) module="$2"; shift 2 ;;
        --token) token="$2"; shift 2 ;;
        --object) object="$2"; shift 2 ;;
        --pin-file) pin_file="$2"; shift 2 ;;
        --handle) handle="$2"; shift 2 ;;
        --key-file) key_file="$2"; shift 2 ;;
        --cn) cn="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --ca-dir) ca_dir="$2"; shift 2 ;;
        --ca) ca="$2"; shift 2 ;;
        --ca-key) ca_key="$2"; shift 2 ;;
        --days) days="$2"; shift 2 ;;
        --csr-only) csr_only=1; shift ;;
        --reuse-key) reuse=1; shift ;;
        *) usage_error "unknown argument '$1' (see --help)" ;;
    esac
done

[[ "$cn" =~ ^[A-Za-z0-9_.:-]{1,64}$ ]] || usage_error "--cn must match ^[A-Za-z0-9_.:-]{1,64}$"
[ -n "$out" ] || usage_error "--out is required"
[[ "$days" =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "--days must be a whole number from 1 to 99999"
if [ "$csr_only" -eq 0 ]; then
    if [ -z "$ca" ]; then
        [ -n "$ca_dir" ] || usage_error "give --ca-dir DIR, --ca and --ca-key, or --csr-only"
        ca="$ca_dir/ca.crt" ca_key="$ca_dir/ca.key"
    fi
    [ -r "$ca" ] && [ -r "$ca_key" ] || usage_error "cannot read the CA $ca and its key $ca_key"
fi
pin=""
if [ -n "$pin_file" ]; then
    [ -r "$pin_file" ] || usage_error "cannot read the PIN file '$pin_file'"
    pin="$(head -n 1 "$pin_file")"
    [ -n "$pin" ] || usage_error "the PIN file '$pin_file' has an empty first line"
fi

umask 077
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
run() {
    "$@" >"$work/log" 2>&1 || fail "$1 failed: $(tail -n 3 "$work/log" | tr '\n' ' ')"
}

if [ "$kind" = pkcs11 ]; then
    [ -n "$module" ] && [ -n "$token" ] && [ -n "$object" ] && [ -n "$pin" ] ||
        usage_error "pkcs11 needs --module, --token, --object and --pin-file"
    [[ "$token$object" != *[\;?%]* ]] || usage_error "token and object labels must not hold ; ? or %"
    uri="pkcs11:token=$token;object=$object"
    if [ "$reuse" -eq 0 ]; then
        GNUTLS_PIN="$pin" run p11tool --provider "$module" --login --generate-privkey=ECDSA \
            --curve=secp256r1 --label="$object" "pkcs11:token=$token"
    fi
    # The engine reads its PIN from this config file (0600, in a private directory).
    cat >"$work/engine.cnf" <<EOF
openssl_conf = conf
[conf]
engines = engines
[engines]
pkcs11 = pkcs11
[pkcs11]
engine_id = pkcs11
MODULE_PATH = $module
PIN = $pin
init = 0
EOF
    OPENSSL_CONF="$work/engine.cnf" run openssl req -new -engine pkcs11 -keyform engine \
        -key "$uri;type=private" -subj "/CN=$cn" -out "$work/req.csr"
    key_ref="$uri"
else
    { [ -n "$handle" ] && [ -z "$key_file" ]; } || { [ -z "$handle" ] && [ -n "$key_file" ]; } ||
        usage_error "tpm needs exactly one of --handle and --key-file"
    # tpm2-openssl 1.1.1 fails to sign with a key file made by tpm2-tools with an authorization
    # value ("authorization HMAC check failed"); a persistent handle with one works.
    [ -z "$key_file" ] || [ -z "$pin" ] || usage_error "--pin-file goes with --handle, not --key-file"
    export TPM2OPENSSL_TCTI="${TPM2OPENSSL_TCTI:-${TPM2TOOLS_TCTI:-}}"
    [ -n "$TPM2OPENSSL_TCTI" ] || unset TPM2OPENSSL_TCTI
    auth=() encode_auth=()
    if [ -n "$pin" ]; then
        printf '%s' "$pin" >"$work/pin"  # the first line only, as the gateway reads it
        auth=(-p "file:$work/pin") encode_auth=(-p)
    fi
    if [ "$reuse" -eq 0 ]; then
        # Without a resource manager (a TPM simulator) every transient object must be flushed.
        flush() { for f in -t -l -s; do tpm2_flushcontext $f >/dev/null 2>&1 || true; done; }
        flush
        # The TCG storage root key template, which tpm2-openssl recreates to load a key file.
        run tpm2_createprimary -C o -g sha256 -G ecc256:aes128cfb -c "$work/primary.ctx" \
            -a "restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda"
        flush
        run tpm2_create -C "$work/primary.ctx" -G ecc256:ecdsa "${auth[@]}" -u "$work/key.pub" \
            -r "$work/key.priv"
        flush
        if [ -n "$handle" ]; then
            run tpm2_load -C "$work/primary.ctx" -u "$work/key.pub" -r "$work/key.priv" \
                -c "$work/key.ctx"
            tpm2_evictcontrol -C o -c "$handle" >/dev/null 2>&1 || true  # a key there before
            run tpm2_evictcontrol -C o -c "$work/key.ctx" "$handle"
            flush
        elif [ -z "$pin" ]; then
            TSS2_LOG=all+none run openssl genpkey -provider tpm2 -provider default \
                -propquery '?provider=tpm2' -algorithm EC -pkeyopt group:P-256 -out "$work/key.pem"
            install -m 0600 "$work/key.pem" "$key_file"
        else
            run tpm2_encodeobject -C "$work/primary.ctx" -u "$work/key.pub" -r "$work/key.priv" \
                "${encode_auth[@]}" -o "$work/key.pem"
            flush
            install -m 0600 "$work/key.pem" "$key_file"
        fi
    fi
    key_ref="${handle:+handle:$handle}${key_file}"
    passin=()
    if [ -n "$pin" ]; then
        [ -z "$handle" ] || key_ref="$key_ref?pass"
        passin=(-passin "file:$work/pin")
    fi
    TSS2_LOG=all+none run openssl req -provider tpm2 -provider default -propquery '?provider=tpm2' \
        -new -key "$key_ref" "${passin[@]}" -subj "/CN=$cn" -out "$work/req.csr"
fi

if [ "$csr_only" -eq 1 ]; then
    cp "$work/req.csr" "$out"
    echo "$prog: CSR for CN=$cn written to $out (key: ${key_ref%\?pass})"
    exit 0
fi
printf 'extendedKeyUsage = clientAuth\nkeyUsage = critical, digitalSignature\n' >"$work/ext.cnf"
run openssl x509 -req -in "$work/req.csr" -CA "$ca" -CAkey "$ca_key" -set_serial "0x$(openssl rand -hex 16)" \
    -days "$days" -sha256 -extfile "$work/ext.cnf" -out "$work/out.crt"
install -m 0644 "$work/out.crt" "$out"
echo "$prog: certificate for CN=$cn written to $out (key: ${key_ref%\?pass})"
