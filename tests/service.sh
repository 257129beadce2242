#!/usr/bin/env bash
# The service's files without root: the unit passes systemd-analyze verify
# (as installed under another PREFIX) and keeps its exposure score, the man
# page is lint-clean and names every option, the shipped config parses, and
# make install / uninstall put and take exactly what they should.
# Under a real systemd: tests/kernel/test_systemd.sh.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_tools service systemd-analyze mandoc man

# docs/service.md quotes this score; a change of the unit that raises it
# must say why there
EXPOSURE_MAX_TENTHS=22

# ---- install under a PREFIX of our own, then check what is there -------
D=$TMP/prefix
if out=$(make -C "$TOP" --no-print-directory -s install PREFIX="$D/usr" SYSCONFDIR="$D/etc" 2>&1); then
	pass service/install
else
	fail service/install "$(tail -n 3 <<<"$out" | tr '\n' ' ')"
	exit 1
fi
unit=$D/usr/lib/systemd/system/synfin.service
files=$(cd "$D" && find . -type f | sort | tr '\n' ' ')
want="./etc/default/synfin ./etc/synfin.conf ./usr/lib/systemd/system/synfin.service ./usr/sbin/synfin \
./usr/share/doc/synfin/README.md ./usr/share/doc/synfin/schema.md ./usr/share/doc/synfin/service.md \
./usr/share/doc/synfin/show.md ./usr/share/doc/synfin/top.md ./usr/share/man/man8/synfin.8 "
if [ "$files" = "$want" ]; then
	pass service/install-files
else
	fail service/install-files "installed: $files"
fi
if grep -qx "ExecStart=$D/usr/sbin/synfin --config $D/etc/synfin.conf \$SYNFIN_OPTS" "$unit" &&
	grep -qx "EnvironmentFile=-$D/etc/default/synfin" "$unit" &&
	grep -q "file://$D/usr/share/doc/synfin/README.md" "$unit"; then
	pass service/install-prefix-in-unit
else
	fail service/install-prefix-in-unit "$(grep -E '^(ExecStart|EnvironmentFile|Documentation)=' "$unit" | tr '\n' ' ')"
fi

# the unit as installed: its binary and man page are found (MANPATH)
check service/analyze-verify env MANPATH="$D/usr/share/man" systemd-analyze verify "$unit"
score=$(systemd-analyze security --offline=true "$TOP/systemd/synfin.service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for synfin.service: \([0-9.]*\).*/\1/p')
if systemd-analyze security --offline=true --threshold=$EXPOSURE_MAX_TENTHS "$TOP/systemd/synfin.service" >/dev/null 2>&1; then
	pass service/analyze-security
else
	fail service/analyze-security "exposure $score, above $EXPOSURE_MAX_TENTHS/10"
fi

# ---- the man page -----------------------------------------------------
check service/man-mandoc-lint mandoc -T lint -W warning "$TOP/man/synfin.8"
if out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$TOP/man/synfin.8" 2>&1 >/dev/null) && [ -z "$out" ]; then
	pass service/man-warnings
else
	fail service/man-warnings "$(head -n 3 <<<"$out" | tr '\n' ' ')"
fi
# every long option of --help, the daemon's and show's (argp's own aside),
# is in the man page
missing=
for opt in $({ "$SYNFIN" --help; "$SYNFIN" show --help; } | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	case "$opt" in --help | --usage | --version) continue ;; esac
	grep -Eq -- "Fl \\\\-${opt#--}( |\$)" "$TOP/man/synfin.8" || missing+=" $opt"
done
if [ -z "$missing" ]; then
	pass service/man-has-every-option
else
	fail service/man-has-every-option "not in man/synfin.8:$missing"
fi

# ---- the shipped config and versions ------------------------------------
check service/config-parses "$SYNFIN" --config "$TOP/systemd/synfin.conf" --version
deb_version=$(sed -n '1s/^synfin (\([^)]*\)).*/\1/p' "$TOP/debian/changelog")
make_version=$(sed -n 's/^VERSION *:= *//p' "$TOP/Makefile")
if [ "$deb_version" = "$make_version" ]; then
	pass service/versions-agree
else
	fail service/versions-agree "debian/changelog $deb_version, Makefile $make_version"
fi

# ---- uninstall: the files go, a config the admin changed stays ---------
echo "stats-interval 5" >>"$D/etc/synfin.conf"
make -C "$TOP" --no-print-directory -s uninstall PREFIX="$D/usr" SYSCONFDIR="$D/etc" >/dev/null 2>&1
left=$(cd "$D" && find . -type f | sort | tr '\n' ' ')
if [ "$left" = "./etc/synfin.conf " ]; then
	pass service/uninstall
else
	fail service/uninstall "left: ${left:-nothing}"
fi
exit "$_failed"
