#!/usr/bin/env bash
# e2e-hydra.sh builds Ory Hydra (cached outside the repository, keyed by version)
# and runs the end-to-end suite in e2e/ against it.
#
# Usage: .ci/e2e-hydra.sh            build if needed, then run the suite
#        .ci/e2e-hydra.sh --build-only
#
# Environment:
#   M2M_HYDRA_CACHE  cache root (default $HOME/.cache/m2mauth)
#   E2E_RACE=0       run the suite without -race
#
# Runs go vet (and staticcheck when installed in GOBIN or GOPATH/bin) on
# the e2e module, then the suite with -race. Exits non-zero when Hydra
# cannot be built or any step fails; the suite kills every Hydra it starts.
set -euo pipefail

HYDRA_VERSION=v2.3.0
POP_REPLACE='github.com/gobuffalo/pop/v6=github.com/ory/pop/v6@v6.2.1-0.20241121111754-e5dfc0f3344b'

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_root="${M2M_HYDRA_CACHE:-$HOME/.cache/m2mauth}"
cache_dir="$cache_root/hydra-$HYDRA_VERSION"
hydra_bin="$cache_dir/hydra"

die() { echo "e2e-hydra: FAIL: $*" >&2; exit 1; }

build_hydra() {
	command -v go >/dev/null || die "go not found in PATH"
	command -v "${CC:-cc}" >/dev/null || die "a C compiler is required (CGO_ENABLED=1, sqlite)"
	mkdir -p "$cache_dir" || die "cannot create $cache_dir"
	scratch="$(mktemp -d)"
	tmp_bin="$cache_dir/.hydra.tmp.$$"
	# Remove the scratch module and any half-written binary whatever happens.
	trap 'rm -rf "$scratch" "$tmp_bin"' EXIT
	echo "e2e-hydra: building Ory Hydra $HYDRA_VERSION into $hydra_bin (first run only, ~4 min on 2 cores)" >&2
	# Each step chained with &&: set -e does not apply inside a subshell
	# whose status is tested.
	(
		cd "$scratch" &&
			export GOFLAGS=-mod=mod GOWORK=off &&
			go mod init scratch >/dev/null 2>&1 &&
			go mod edit -replace "$POP_REPLACE" &&
			go get -tool "github.com/ory/hydra/v2@$HYDRA_VERSION" &&
			CGO_ENABLED=1 go build -tags sqlite,sqlite_omit_load_extension -o "$tmp_bin" github.com/ory/hydra/v2
	) || die "building Hydra $HYDRA_VERSION failed (see the go output above)"
	"$tmp_bin" version >/dev/null 2>&1 || die "the built Hydra binary does not run"
	mv -f "$tmp_bin" "$hydra_bin" || die "cannot move the Hydra binary into $hydra_bin"
	echo "e2e-hydra: built $hydra_bin" >&2
}

if [[ ! -x "$hydra_bin" ]]; then
	build_hydra
else
	echo "e2e-hydra: using cached $hydra_bin" >&2
fi
[[ -x "$hydra_bin" ]] || die "no Hydra binary at $hydra_bin"

if [[ "${1:-}" == "--build-only" ]]; then
	exit 0
fi

race=(-race)
if [[ "${E2E_RACE:-1}" == "0" ]]; then
	race=()
fi

cd "$repo_root/e2e"
export GOWORK=off
# e2e/ is its own module: the root's go vet / staticcheck do not see it.
go vet ./...
gobin="$(go env GOBIN)"
staticcheck="${gobin:-$(go env GOPATH)/bin}/staticcheck"
if [[ -x "$staticcheck" ]]; then
	"$staticcheck" ./...
fi
HYDRA_BIN="$hydra_bin" go test "${race[@]}" -count=1 -v ./...
