#!/bin/sh
# synfin on a fresh Debian machine, as root or with sudo:
#   sh setup.sh run [SYNFIN OPTIONS]   install what is missing (make too), build, run
#                                      the daemon: JSON Lines on stdout, all else on stderr
#   sh setup.sh test [MAKE VARIABLES]  the same, then every test (e.g. WERROR=1)
# Packages come from Debian's archive only (scripts/install-deps.sh); then
# this is `make run ARGS=...` / `make test`.
set -eu

usage() {
	sed -n '2,7p' "$here/setup.sh" | sed 's/^# \{0,1\}//'
}

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}
case $cmd in
run | test) shift ;;
-h | --help) usage; exit 0 ;;
'') usage >&2; exit 2 ;;
*) echo "setup.sh: unknown command '$cmd' (run or test)" >&2; usage >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		exec sudo sh "$here/setup.sh" "$cmd" "$@"
	fi
	echo "setup.sh: root is needed (packages, BPF) and sudo is not installed; as root: su -c 'sh setup.sh $cmd'" >&2
	exit 1
fi

cd "$here"
bash scripts/install-deps.sh >&2
if [ "$cmd" = test ]; then
	exec make test "$@"
fi

# synfin's options go through make's ARGS to the recipe's shell: quote each
# one for that shell ('\'' for a quote) and double $ for make
args=
for a in "$@"; do
	a=$(printf '%s\n' "$a" | sed -e "s/'/'\\\\''/g" -e 's/\$/$$/g')
	args="$args '$a'"
done
exec make run ARGS="$args"
