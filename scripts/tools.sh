#!/usr/bin/env bash
# Installs the Debian packages the tests run (see "needs" below) with
# apt-get when missing, and the pinned tools the tests need (MinIO, cosign,
# sigstore's RFC 3161 timestamp-server) into .tools/bin, a git-ignored folder
# at the root of the repository. A tool is built only when it is missing or
# its pin changed: .tools/versions/<name> records the version installed, so
# an unchanged pin costs nothing.
#
# Usage: scripts/tools.sh            install what is missing
#        FORCE=1 scripts/tools.sh    rebuild everything
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
bin="$tools/bin"
versions="$tools/versions"

# name|package|version. Changing a version here reinstalls that tool.
pins=(
	"minio|github.com/minio/minio|v0.0.0-20260212201848-7aac2a2c5b7c"
	"cosign|github.com/sigstore/cosign/v2/cmd/cosign|v2.6.5"
	"timestamp-server|github.com/sigstore/timestamp-authority/cmd/timestamp-server|v1.2.9"
)

# The module that holds a package, as `go version -m` reports it.
module_of() {
	case "$1" in
	github.com/sigstore/cosign/v2/*) echo github.com/sigstore/cosign/v2 ;;
	github.com/sigstore/timestamp-authority/*) echo github.com/sigstore/timestamp-authority ;;
	*) echo "$1" ;;
	esac
}

# Programs the tests use that a minimal machine may lack, and the Debian
# packages that provide them: curl and python3 for the scripts; exiftool,
# GDAL, libheif and libwebp to build the stripping proof's corpus and to
# check its output independently (capture/strip/proof_test.go); the
# headless browser that web captures drive (acquire/web/browser), found by
# its path since it is not on PATH, and yt-dlp for their media.
# command|Debian package
needs=(
	"curl|curl"
	"python3|python3"
	"node|nodejs"
	"npm|npm"
	"exiftool|libimage-exiftool-perl"
	"gdalinfo|gdal-bin"
	"gdal_translate|gdal-bin"
	"heif-enc|libheif-examples"
	"heif-info|libheif-examples"
	"cwebp|webp"
	"dwebp|webp"
	"/usr/lib/chromium/chromium-headless-shell|chromium-headless-shell"
	"yt-dlp|yt-dlp"
)
# PostgreSQL (the worker's shared queue, scripts/postgres.sh) keeps its
# programs off PATH, in a folder named by its major version.
missing=()
for need in "${needs[@]}"; do
	IFS='|' read -r cmd package <<<"$need"
	if ! command -v "$cmd" >/dev/null && [[ " ${missing[*]-} " != *" $package "* ]]; then
		missing+=("$package")
	fi
done
if ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
	missing+=("postgresql")
fi
if ((${#missing[@]})); then
	if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
		echo "tools: please install the Debian packages ${missing[*]} (e.g. apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "tools: installing ${missing[*]} with apt-get"
	if [[ " ${missing[*]} " == *" postgresql "* && ! -e /etc/postgresql-common/createcluster.conf ]]; then
		# The tests start a private server of their own: the package must
		# not make and start the system's main one.
		mkdir -p /etc/postgresql-common
		echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mkdir -p "$bin" "$versions"
export GOTOOLCHAIN=local
for pin in "${pins[@]}"; do
	IFS='|' read -r name pkg version <<<"$pin"
	exe="$bin/$name"
	record="$versions/$name"
	if [[ -z "${FORCE:-}" && -x "$exe" ]]; then
		if [[ -f "$record" && "$(cat "$record")" == "$version" ]]; then
			echo "tools: $name $version already installed"
			continue
		fi
		# A binary without a record (built by hand, or by an older script):
		# trust it only if it says it was built from the pinned version.
		if go version -m "$exe" 2>/dev/null | awk -v m="$(module_of "$pkg")" -v v="$version" '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'; then
			echo "$version" >"$record"
			echo "tools: $name $version already installed (recorded)"
			continue
		fi
	fi
	echo "tools: installing $name $version into $bin (this takes several minutes the first time)"
	GOBIN="$bin" go install "$pkg@$version"
	echo "$version" >"$record"
	echo "tools: installed $name $version"
done

# npm packages the tests run as independent checkers, into .tools/npm:
# warcio.js reads the WARC files of web captures (scripts/warc-check.mjs).
# name@version; changing a version here reinstalls it.
npm_pins=("warcio@2.4.11")
for pin in "${npm_pins[@]}"; do
	name="${pin%@*}"
	version="${pin##*@}"
	have="$(node -p "require('$tools/npm/node_modules/$name/package.json').version" 2>/dev/null || true)"
	if [[ -z "${FORCE:-}" && "$have" == "$version" ]]; then
		echo "tools: npm $name $version already installed"
		continue
	fi
	echo "tools: installing npm $name $version into $tools/npm"
	npm install --prefix "$tools/npm" --no-audit --no-fund --save-exact "$pin" >/dev/null
	echo "tools: installed npm $name $version"
done

# The CASE/UCO 1.4 SHACL check of exports (scripts/case-validate): copied
# into .tools/case-validate with its pinned packages (npm ci), again when
# any of its files changed.
cv="$tools/case-validate"
if [[ -z "${FORCE:-}" && -d "$cv/node_modules" ]] && diff -rq --exclude=node_modules "$root/scripts/case-validate" "$cv" >/dev/null; then
	echo "tools: case-validate already installed"
else
	echo "tools: installing case-validate into $cv"
	rm -rf "$cv"
	mkdir -p "$cv"
	cp -r "$root/scripts/case-validate/." "$cv/"
	(cd "$cv" && npm ci --no-audit --no-fund >/dev/null)
	echo "tools: installed case-validate"
fi
