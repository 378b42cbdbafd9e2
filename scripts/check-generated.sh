#!/usr/bin/env bash
# Fails when committed templ output is stale: regenerates into a scratch
# copy and compares, so the work tree is never modified.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls ui/**/*.templ ui/*.templ >/dev/null 2>&1 && [ -z "$(find . -name '*.templ' -not -path './.git/*' | head -1)" ]; then
	echo "check-generated: no templ files"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
find . -name '*.templ' -not -path './.git/*' | while read -r f; do
	mkdir -p "$tmp/$(dirname "$f")"; cp "$f" "$tmp/$f"
done
go tool templ generate -path "$tmp" >/dev/null
stale=0
while read -r g; do
	rel=${g#"$tmp"/}
	if ! cmp -s "$g" "$rel"; then echo "stale or missing generated file: $rel (run make generate)"; stale=1; fi
done < <(find "$tmp" -name '*_templ.go')
[ $stale = 0 ] && echo "check-generated: templ output up to date"
exit $stale
